/**
 * The hosted sparse extent header ("KDMV", VMware's SparseExtentHeader, little-endian) and the
 * footer a streamOptimized file may carry at its end, checked as vmdk_open_vmdk4 checks them.
 *
 *   0 magic "KDMV"   4 version   8 flags   12 capacity (sectors)   20 grainSize (sectors)
 *  28 descriptorOffset   36 descriptorSize   44 numGTEsPerGT   48 rgdOffset   56 gdOffset
 *  64 overHead (first grain, sectors)   72 uncleanShutdown   73 "\n \r\n"   77 compressAlgorithm
 */
import { DiskImgError } from '../../errors.ts';
import type { Storage } from '../../storage/storage.ts';

export const KDMV = 0x4b444d56;
export const COWD = 0x434f5744;
export const FLAG_RGD = 1 << 1;
export const FLAG_ZERO_GRAIN = 1 << 2;
export const FLAG_COMPRESS = 1 << 16;
export const FLAG_MARKER = 1 << 17;
export const COMPRESSION_DEFLATE = 1;
const MARKER_END_OF_STREAM = 0;
const MARKER_FOOTER = 3;

export interface SparseHeader {
  version: number;
  flags: number;
  /** In sectors. */
  capacity: number;
  /** Sectors per grain. */
  grainSectors: number;
  descriptorOffset: number;
  descriptorSize: number;
  gtesPerGt: number;
  /** Byte offsets of the grain directory and its redundant copy (0: none). */
  gdOffset: number;
  rgdOffset: number;
  /** First grain, in sectors. */
  grainOffset: number;
  compressAlgorithm: number;
  /** The header came from the footer (gdOffset was GD_AT_END). */
  fromFooter: boolean;
  /** VMDK3 (COWD) states its grain directory's length; KDMV's follows from the capacity. */
  gdEntries?: number;
}

const u64 = (v: DataView, at: number) => v.getUint32(at, true) + v.getUint32(at + 4, true) * 0x1_0000_0000;

function parseFields(v: DataView, at: number, fromFooter: boolean): SparseHeader & { gdRaw: number; gdAtEnd: boolean } {
  const gdHi = v.getUint32(at + 60, true);
  const gdLo = v.getUint32(at + 56, true);
  return {
    version: v.getUint32(at + 4, true),
    flags: v.getUint32(at + 8, true),
    capacity: u64(v, at + 12),
    grainSectors: u64(v, at + 20),
    descriptorOffset: u64(v, at + 28),
    descriptorSize: u64(v, at + 36),
    gtesPerGt: v.getUint32(at + 44, true),
    rgdOffset: u64(v, at + 48),
    gdRaw: u64(v, at + 56),
    gdAtEnd: gdHi === 0xffffffff && gdLo === 0xffffffff,
    gdOffset: 0,
    grainOffset: u64(v, at + 64),
    compressAlgorithm: v.getUint16(at + 77, true),
    fromFooter,
  };
}

/**
 * Reads the header at the start of `storage` (the footer's, when the grain directory is at the
 * end), with QEMU's checks. Returns null for an embedded-descriptor-only header (capacity 0 with a
 * descriptor offset), which QEMU opens as a descriptor file.
 */
export async function readSparseHeader(storage: Storage): Promise<{ header: SparseHeader; descriptorOnly: boolean }> {
  const file = storage.name;
  const head = await storage.read(0, 512);
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let fields = parseFields(v, 0, false);
  if (fields.capacity === 0 && fields.descriptorOffset !== 0) return { header: finish(fields), descriptorOnly: true };
  if (fields.gdAtEnd) {
    // Footer marker, footer (a copy of the header), end-of-stream marker: the last 1536 bytes
    // as the block layer sees the file (whole sectors).
    const end = Math.floor(storage.size / 512) * 512;
    const at = end - 1536;
    const tail = await storage.read(Math.max(0, at), 1536);
    const t = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    const ok =
      at >= 0 &&
      t.getUint32(512) === KDMV &&
      t.getUint32(8, true) === 0 &&
      t.getUint32(12, true) === MARKER_FOOTER &&
      u64(t, 1024) === 0 &&
      t.getUint32(1032, true) === 0 &&
      t.getUint32(1036, true) === MARKER_END_OF_STREAM;
    if (!ok) throw new DiskImgError('invalid-format', 'Invalid footer', { file, field: 'footer', offset: Math.max(0, at) });
    fields = parseFields(t, 512, true);
  }
  const header = finish(fields);
  if (header.version > 3)
    throw new DiskImgError('unsupported', `Unsupported VMDK version ${header.version}`, {
      file,
      field: 'version',
      offset: 4,
      value: header.version,
    });
  if (header.gtesPerGt > 512)
    throw new DiskImgError('limit', 'L2 table size too big', { file, field: 'numGTEsPerGT', offset: 44, value: header.gtesPerGt });
  // QEMU multiplies in 32 bits (uint32_t l1_entry_sectors).
  if ((header.gtesPerGt * header.grainSectors) % 0x1_0000_0000 === 0)
    throw new DiskImgError('invalid-format', 'L1 entry size is invalid', {
      file,
      field: 'grainSize',
      offset: 20,
      value: header.grainSectors,
    });
  if (Math.floor(storage.size / 512) < header.grainOffset) {
    throw new DiskImgError('corrupt', `File truncated, expecting at least ${header.grainOffset * 512} bytes`, {
      file,
      field: 'overHead',
      offset: 64,
      value: header.grainOffset,
    });
  }
  if (header.grainSectors > 0x200000)
    throw new DiskImgError('limit', 'Invalid granularity, image may be corrupt', {
      file,
      field: 'grainSize',
      offset: 20,
      value: header.grainSectors,
    });
  return { header, descriptorOnly: false };
}

function finish(fields: ReturnType<typeof parseFields>): SparseHeader {
  const { gdRaw, gdAtEnd: _, ...rest } = fields;
  return { ...rest, gdOffset: gdRaw * 512, rgdOffset: rest.flags & FLAG_RGD ? rest.rgdOffset * 512 : 0 };
}

/**
 * The VMDK3 header ("COWD", ESX 2 vmfsSparse, little-endian), as vmdk_open_vmfs_sparse reads it:
 *   4 version   8 flags   12 disk sectors   16 granularity (sectors)   20 grain directory (sector)
 *  24 grain directory entries; grain tables hold 4096 entries; no zeroed grains, no compression.
 */
export async function readCowdHeader(storage: Storage): Promise<SparseHeader> {
  const file = storage.name;
  const head = await storage.read(0, 32);
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const header: SparseHeader = {
    version: v.getUint32(4, true),
    flags: 0,
    capacity: v.getUint32(12, true),
    grainSectors: v.getUint32(16, true),
    descriptorOffset: 0,
    descriptorSize: 0,
    gtesPerGt: 4096,
    gdOffset: v.getUint32(20, true) * 512,
    rgdOffset: 0,
    grainOffset: 0,
    compressAlgorithm: 0,
    fromFooter: false,
    gdEntries: v.getUint32(24, true),
  };
  // QEMU divides by 4096 × granularity unchecked; a granularity of 0 is refused here.
  if (header.grainSectors === 0)
    throw new DiskImgError('invalid-format', 'L1 entry size is invalid', { file, field: 'granularity', offset: 16, value: 0 });
  if (header.grainSectors > 0x200000)
    throw new DiskImgError('limit', 'Invalid granularity, image may be corrupt', {
      file,
      field: 'granularity',
      offset: 16,
      value: header.grainSectors,
    });
  return header;
}
