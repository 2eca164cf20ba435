/**
 * The VDI header (VirtualBox's VDICore.h, version 1.1) and the checks qemu's block/vdi.c makes on
 * it, in qemu's order and with qemu's messages. All fields are little-endian.
 */
import { DiskImgError } from '../../errors.ts';

export const VDI_SIGNATURE = 0xbeda107f;
export const VDI_VERSION_1_1 = 0x00010001;
export const SECTOR = 512;
export const BLOCK_SIZE = 1024 * 1024;
/** qemu's VDI_BLOCKS_IN_IMAGE_MAX: the block map must fit in INT_MAX bytes, sector-rounded. */
export const MAX_BLOCKS = (0x8000_0000 - SECTOR) / 4;
export const MAX_DISK_SIZE = MAX_BLOCKS * BLOCK_SIZE;
/** Block map entries that hold no block: never allocated, and discarded (reads as zeros). */
export const UNALLOCATED = 0xffffffff;
export const DISCARDED = 0xfffffffe;

export const TYPE_NAMES: Record<number, string> = { 1: 'dynamic', 2: 'static', 3: 'undo', 4: 'differencing' };

export interface VdiHeader {
  text: string;
  version: number;
  headerSize: number;
  imageType: number;
  imageFlags: number;
  offsetBmap: number;
  offsetData: number;
  sectorSize: number;
  /** Guest size, rounded up to whole sectors as qemu does. */
  diskSize: number;
  blockSize: number;
  blockExtra: number;
  blocksInImage: number;
  blocksAllocated: number;
  uuidImage: string;
  uuidLastSnap: string;
  uuidLink: string;
  uuidParent: string;
}

const NULL_UUID = '00000000-0000-0000-0000-000000000000';

/** A UUID as VirtualBox stores it: the first three fields little-endian (qemu byte-swaps them). */
function uuid(b: Uint8Array, at: number): string {
  const h = (i: number) => b[at + i].toString(16).padStart(2, '0');
  const run = (...i: number[]) => i.map(h).join('');
  return `${run(3, 2, 1, 0)}-${run(5, 4)}-${run(7, 6)}-${run(8, 9)}-${run(10, 11, 12, 13, 14, 15)}`;
}

const unsupported = (message: string, field: string, offset: number, value?: number | string): never => {
  throw new DiskImgError('unsupported', message, { field, offset, value });
};

export function parseHeader(head: Uint8Array): VdiHeader {
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const u32 = (at: number) => v.getUint32(at, true);
  const sizeLo = u32(0x170);
  const sizeHi = u32(0x174);
  const rawSize = BigInt(sizeHi) * 0x1_0000_0000n + BigInt(sizeLo);
  if (rawSize > BigInt(MAX_DISK_SIZE)) {
    unsupported(
      `Unsupported VDI image size (size is 0x${rawSize.toString(16)}, max supported is 0x${MAX_DISK_SIZE.toString(16)})`,
      'disk_size',
      0x170,
      `0x${rawSize.toString(16)}`,
    );
  }
  // 'VBoxManage convertfromraw' makes odd sizes; qemu rounds them up to whole sectors.
  const diskSize = Math.ceil(Number(rawSize) / SECTOR) * SECTOR;
  let text = '';
  for (let i = 0; i < 0x40 && head[i] !== 0; i++) text += String.fromCharCode(head[i]);
  const h: VdiHeader = {
    text,
    version: u32(0x44),
    headerSize: u32(0x48),
    imageType: u32(0x4c),
    imageFlags: u32(0x50),
    offsetBmap: u32(0x154),
    offsetData: u32(0x158),
    sectorSize: u32(0x168),
    diskSize,
    blockSize: u32(0x178),
    blockExtra: u32(0x17c),
    blocksInImage: u32(0x180),
    blocksAllocated: u32(0x184),
    uuidImage: uuid(head, 0x188),
    uuidLastSnap: uuid(head, 0x198),
    uuidLink: uuid(head, 0x1a8),
    uuidParent: uuid(head, 0x1b8),
  };
  const signature = u32(0x40);
  if (signature !== VDI_SIGNATURE) {
    throw new DiskImgError('invalid-format', `Image not in VDI format (bad signature ${signature.toString(16).padStart(8, '0')})`, {
      field: 'signature',
      offset: 0x40,
      value: signature,
    });
  }
  if (h.version !== VDI_VERSION_1_1)
    unsupported(`unsupported VDI image (version ${h.version >>> 16}.${h.version & 0xffff})`, 'version', 0x44, h.version);
  if (h.offsetBmap % SECTOR !== 0)
    unsupported(`unsupported VDI image (unaligned block map offset 0x${h.offsetBmap.toString(16)})`, 'offset_bmap', 0x154, h.offsetBmap);
  if (h.offsetData % SECTOR !== 0)
    unsupported(`unsupported VDI image (unaligned data offset 0x${h.offsetData.toString(16)})`, 'offset_data', 0x158, h.offsetData);
  if (h.sectorSize !== SECTOR)
    unsupported(`unsupported VDI image (sector size ${h.sectorSize} is not ${SECTOR})`, 'sector_size', 0x168, h.sectorSize);
  if (h.blockSize !== BLOCK_SIZE)
    unsupported(`unsupported VDI image (block size ${h.blockSize} is not ${BLOCK_SIZE})`, 'block_size', 0x178, h.blockSize);
  if (h.diskSize > h.blocksInImage * h.blockSize) {
    unsupported(
      `unsupported VDI image (disk size ${h.diskSize}, image bitmap has room for ${h.blocksInImage * h.blockSize})`,
      'blocks_in_image',
      0x180,
      h.blocksInImage,
    );
  }
  if (h.uuidLink !== NULL_UUID) unsupported('unsupported VDI image (non-NULL link UUID)', 'uuid_link', 0x1a8, h.uuidLink);
  if (h.uuidParent !== NULL_UUID) {
    // A differencing image names its parent by UUID only: neither qemu-img nor we can find it.
    const kind = TYPE_NAMES[h.imageType] ?? `type ${h.imageType}`;
    unsupported(
      `unsupported VDI image (non-NULL parent UUID): this ${kind} image's parent is the VDI with UUID ${h.uuidParent}, which cannot be found by UUID; convert it with VirtualBox (VBoxManage clonemedium) first`,
      'uuid_parent',
      0x1b8,
      h.uuidParent,
    );
  }
  if (h.blocksInImage > MAX_BLOCKS)
    unsupported(
      `unsupported VDI image (too many blocks ${h.blocksInImage}, max is ${MAX_BLOCKS})`,
      'blocks_in_image',
      0x180,
      h.blocksInImage,
    );
  return h;
}
