/**
 * Writes a VDI as QEMU's vdi driver does (block/vdi.c, qemu 7.2): vdi_co_do_create writes the
 * header and a block map (every block unallocated; a static image maps block i to slot i and has
 * its whole size); a guest write into a block not yet allocated takes the next slot and writes
 * the whole block, zero-filled around the data; after each request that allocated, the header
 * and the changed sectors of the block map are written again.
 */
import { DiskImgError } from '../../errors.ts';
import type { GuestWriter } from '../output/guest-writer.ts';
import type { HostFile } from '../output/host-file.ts';
import { ascii, randomUuid, setLe64 } from '../output/fields.ts';
import { BLOCK_SIZE, MAX_DISK_SIZE, SECTOR, UNALLOCATED, VDI_SIGNATURE, VDI_VERSION_1_1 } from './header.ts';

export interface VdiWriteOptions {
  /** A static (preallocated) image: every block in place, the file its whole size. */
  static: boolean;
}

export const DEFAULT_VDI_OPTIONS: VdiWriteOptions = { static: false };

const HEADER_SIZE = 512;
const TYPE_DYNAMIC = 1;
const TYPE_STATIC = 2;
const TEXT = '<<< QEMU VM Virtual Disk Image >>>\n';

/** Where the fields lie in the header (VDICore.h; little-endian). */
const FIELD = {
  signature: 0x40,
  version: 0x44,
  headerSize: 0x48,
  imageType: 0x4c,
  offsetBmap: 0x154,
  offsetData: 0x158,
  sectorSize: 0x168,
  diskSize: 0x170,
  blockSize: 0x178,
  blocksInImage: 0x180,
  blocksAllocated: 0x184,
  uuidImage: 0x188,
  uuidLastSnap: 0x198,
} as const;

/** The size vdi_co_do_create gives the disk (whole sectors), or its message when too large. */
export function checkVdiSize(virtualSize: number): number {
  const size = Math.ceil(virtualSize / SECTOR) * SECTOR;
  if (size > MAX_DISK_SIZE) {
    throw new DiskImgError(
      'usage',
      `Unsupported VDI image size (size is 0x${size.toString(16)}, max supported is 0x${MAX_DISK_SIZE.toString(16)})`,
      { field: 'size', value: size },
    );
  }
  return size;
}

export class VdiWriter implements GuestWriter {
  private readonly header = new Uint8Array(HEADER_SIZE);
  private readonly map: Uint32Array;
  private blocksAllocated: number;
  private readonly offsetData: number;
  /** Block map entries changed by the current request, first and last (-1: none). */
  private changedFirst = -1;
  private changedLast = -1;

  private constructor(
    private readonly host: HostFile,
    readonly size: number,
    readonly isStatic: boolean,
  ) {
    const blocks = Math.ceil(size / BLOCK_SIZE);
    this.map = new Uint32Array(blocks);
    if (isStatic) for (let i = 0; i < blocks; i++) this.map[i] = i;
    else this.map.fill(UNALLOCATED);
    this.blocksAllocated = isStatic ? blocks : 0;
    this.offsetData = HEADER_SIZE + this.mapBytes;
  }

  private get mapBytes(): number {
    return Math.ceil((this.map.length * 4) / SECTOR) * SECTOR;
  }

  static async create(host: HostFile, virtualSize: number, options: VdiWriteOptions = DEFAULT_VDI_OPTIONS): Promise<VdiWriter> {
    const size = checkVdiSize(virtualSize);
    const writer = new VdiWriter(host, size, options.static);
    writer.buildHeader();
    await host.metadata(0, writer.header);
    if (writer.map.length > 0) await host.metadata(HEADER_SIZE, writer.mapSectors(0, writer.mapBytes / SECTOR));
    if (writer.isStatic) await host.setLength(writer.offsetData + writer.map.length * BLOCK_SIZE);
    return writer;
  }

  private buildHeader(): void {
    const h = this.header;
    const v = new DataView(h.buffer);
    ascii(h, 0, TEXT);
    v.setUint32(FIELD.signature, VDI_SIGNATURE, true);
    v.setUint32(FIELD.version, VDI_VERSION_1_1, true);
    v.setUint32(FIELD.headerSize, 0x180, true);
    v.setUint32(FIELD.imageType, this.isStatic ? TYPE_STATIC : TYPE_DYNAMIC, true);
    v.setUint32(FIELD.offsetBmap, HEADER_SIZE, true);
    v.setUint32(FIELD.offsetData, this.offsetData, true);
    v.setUint32(FIELD.sectorSize, SECTOR, true);
    setLe64(v, FIELD.diskSize, this.size);
    v.setUint32(FIELD.blockSize, BLOCK_SIZE, true);
    v.setUint32(FIELD.blocksInImage, this.map.length, true);
    v.setUint32(FIELD.blocksAllocated, this.blocksAllocated, true);
    h.set(randomUuid(), FIELD.uuidImage);
    h.set(randomUuid(), FIELD.uuidLastSnap);
  }

  /** Block map sectors [first, first + count) as stored (little-endian). */
  private mapSectors(first: number, count: number): Uint8Array {
    const out = new Uint8Array(count * SECTOR);
    const v = new DataView(out.buffer);
    const perSector = SECTOR / 4;
    for (let i = 0; i < count * perSector && first * perSector + i < this.map.length; i++)
      v.setUint32(i * 4, this.map[first * perSector + i], true);
    return out;
  }

  async write(guestOffset: number, bytes: Uint8Array): Promise<void> {
    if (guestOffset + bytes.length > this.size) {
      throw new DiskImgError('usage', `A write at ${guestOffset} of ${bytes.length} bytes runs past the VDI's ${this.size} bytes`, {
        offset: guestOffset,
      });
    }
    for (let done = 0; done < bytes.length;) {
      const at = guestOffset + done;
      const index = Math.floor(at / BLOCK_SIZE);
      const inBlock = at % BLOCK_SIZE;
      const n = Math.min(bytes.length - done, BLOCK_SIZE - inBlock);
      const piece = bytes.subarray(done, done + n);
      if (this.map[index] === UNALLOCATED) {
        const slot = this.blocksAllocated++;
        this.map[index] = slot;
        if (this.changedFirst < 0) this.changedFirst = index;
        this.changedLast = index;
        // The whole block is written: zeros, the data, zeros.
        const blockStart = this.offsetData + slot * BLOCK_SIZE;
        if (inBlock > 0) await this.host.zeros(blockStart, inBlock);
        await this.host.data(blockStart + inBlock, piece, at);
        if (inBlock + n < BLOCK_SIZE) await this.host.zeros(blockStart + inBlock + n, BLOCK_SIZE - inBlock - n);
      } else {
        await this.host.data(this.offsetData + this.map[index] * BLOCK_SIZE + inBlock, piece, at);
      }
      done += n;
    }
    if (this.changedFirst >= 0) await this.writeBack();
  }

  /** After a request that allocated: the header (its blocks_allocated), then the changed map sectors. */
  private async writeBack(): Promise<void> {
    new DataView(this.header.buffer).setUint32(FIELD.blocksAllocated, this.blocksAllocated, true);
    await this.host.metadata(0, this.header);
    const perSector = SECTOR / 4;
    const first = Math.floor(this.changedFirst / perSector);
    const last = Math.floor(this.changedLast / perSector);
    await this.host.metadata(HEADER_SIZE + first * SECTOR, this.mapSectors(first, last - first + 1));
    this.changedFirst = this.changedLast = -1;
  }

  async finish(): Promise<void> {}
}
