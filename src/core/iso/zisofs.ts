/**
 * zisofs: files stored compressed on a Rock Ridge disc (RRIP "ZF" entry, or zisofs2's "Z2"),
 * shown decompressed by Linux, xorriso and bsdtar. The stored file is a header, a table of block
 * pointers (offsets in the stored file, one more than there are blocks) and zlib streams, one per
 * block; two equal pointers are a block of zeros.
 *
 *   v1 (ZF "pz"):  magic 37 E4 53 96 C9 DB D6 07, size LE32, header size / 4, log2 block size, 2 reserved; LE32 pointers
 *   v2 (ZF or Z2 "PZ"): magic EF 22 55 A1 BC 1B 95 A0, 1 reserved, header size / 4, algorithm (1 = zlib),
 *                       log2 block size, size LE64, 4 reserved; LE64 pointers
 *
 * Everything a pointer table can lie about is checked before it costs anything: pointers out of
 * order or past the stored file, a block longer than any compressed block can be, a block that
 * inflates to more (or less) than its size. Each is a DiskImgError naming the file and the block.
 */
import { ZStream, Z_FINISH, Z_STREAM_END, zlibInflate, zlibInflateInit2, zlibInflateReset } from 'pako';
import { DiskImgError } from '../errors.ts';

export interface Zisofs {
  /** "pz" for zisofs v1, "PZ" for zisofs2 (zlib). */
  algorithm: 'pz' | 'PZ';
  /** The RRIP entry that marked it: "ZF", or zisofs2's "Z2". */
  entry: 'ZF' | 'Z2';
  /** Header size in bytes, as the entry records it. */
  headerSize: number;
  blockLog2: number;
  /** Bytes of the file decompressed (what a user sees). */
  size: number;
  /** Bytes of the file as stored on the disc. */
  stored: number;
}

const MAGIC_V1 = [0x37, 0xe4, 0x53, 0x96, 0xc9, 0xdb, 0xd6, 0x07];
const MAGIC_V2 = [0xef, 0x22, 0x55, 0xa1, 0xbc, 0x1b, 0x95, 0xa0];
/** Pointers read at a time: the table of a huge file is never held whole. */
const POINTER_WINDOW = 8192;

/** Reads `length` bytes of the stored (compressed) file from `offset`. */
export type StoredReader = (offset: number, length: number) => Promise<Uint8Array>;

/** The RRIP ZF/Z2 entry's fields (bytes after the 4-byte entry header), or undefined for an algorithm we do not know. */
export function parseZf(e: Uint8Array, signature: 'ZF' | 'Z2'): Omit<Zisofs, 'stored'> | undefined {
  if (e.length < 16) return undefined;
  const algorithm = String.fromCharCode(e[4], e[5]);
  const version = e[3];
  const size =
    version >= 2 || signature === 'Z2'
      ? e[8] +
        e[9] * 0x100 +
        e[10] * 0x10000 +
        e[11] * 0x1000000 +
        (e[12] + e[13] * 0x100 + e[14] * 0x10000 + e[15] * 0x1000000) * 0x100000000
      : e[8] + e[9] * 0x100 + e[10] * 0x10000 + e[11] * 0x1000000;
  if (algorithm !== 'pz' && algorithm !== 'PZ') return undefined;
  // A block size no writer uses is no zisofs (libarchive refuses it too: 2^2 made a 4 GiB size from a 2 KiB file).
  if (e[7] < 15 || e[7] > (algorithm === 'PZ' ? 20 : 17)) return undefined;
  return { algorithm, entry: signature, headerSize: e[6] * 4, blockLog2: e[7], size };
}

function fail(file: string, message: string, block?: number, value?: number): never {
  throw new DiskImgError('corrupt', `zisofs file ${file}: ${message}`, {
    file,
    field: block === undefined ? 'zisofs header' : 'zisofs block pointer',
    ...(block !== undefined ? { block } : {}),
    ...(value !== undefined ? { value } : {}),
  });
}

/** Checks the stored header against the entry; returns the block size and the first pointer's offset. */
async function readHeader(
  z: Zisofs,
  path: string,
  read: StoredReader,
): Promise<{ blockSize: number; pointerSize: number; table: number; blocks: number }> {
  const v2 = z.algorithm === 'PZ';
  const min = v2 ? 24 : 16;
  if (z.headerSize < min || z.headerSize > 1024)
    fail(path, `header size ${z.headerSize} is not between ${min} and 1024`, undefined, z.headerSize);
  if (z.stored < z.headerSize)
    fail(path, `the stored file (${z.stored} bytes) is shorter than its ${z.headerSize}-byte header`, undefined, z.stored);
  const h = await read(0, z.headerSize);
  const magic = v2 ? MAGIC_V2 : MAGIC_V1;
  if (!magic.every((b, i) => h[i] === b)) fail(path, `no zisofs${v2 ? '2' : ''} magic at the start of the stored file`);
  const blockLog2 = v2 ? h[11] : h[13];
  const size = v2
    ? h[12] +
      h[13] * 0x100 +
      h[14] * 0x10000 +
      h[15] * 0x1000000 +
      (h[16] + h[17] * 0x100 + h[18] * 0x10000 + h[19] * 0x1000000) * 0x100000000
    : h[8] + h[9] * 0x100 + h[10] * 0x10000 + h[11] * 0x1000000;
  if (v2 && h[10] !== 1)
    throw new DiskImgError('unsupported', `zisofs2 file ${path}: compression algorithm ${h[10]} is not supported (only 1, zlib)`, {
      file: path,
      field: 'zisofs algorithm',
      value: h[10],
    });
  if (blockLog2 !== z.blockLog2)
    fail(path, `the header's block size 2^${blockLog2} differs from the Rock Ridge entry's 2^${z.blockLog2}`, undefined, blockLog2);
  if (size !== z.size) fail(path, `the header's size ${size} differs from the Rock Ridge entry's ${z.size}`, undefined, size);
  const [low, high] = v2 ? [15, 20] : [15, 17];
  if (blockLog2 < low || blockLog2 > high)
    fail(path, `block size 2^${blockLog2} is not between 2^${low} and 2^${high}`, undefined, blockLog2);
  const blockSize = 2 ** blockLog2;
  const blocks = Math.ceil(size / blockSize);
  const pointerSize = v2 ? 8 : 4;
  if (z.headerSize + (blocks + 1) * pointerSize > z.stored)
    fail(
      path,
      `${blocks + 1} block pointers do not fit in the stored file (${z.stored} bytes): the size ${size} is a lie`,
      undefined,
      size,
    );
  return { blockSize, pointerSize, table: z.headerSize, blocks };
}

/**
 * The decompressed bytes of a zisofs file from `start` for `length` bytes, a block at a time
 * (at most one block and one window of pointers in memory).
 */
export async function* readZisofs(z: Zisofs, path: string, read: StoredReader, start: number, length: number): AsyncGenerator<Uint8Array> {
  if (length <= 0) return;
  const { blockSize, pointerSize, table, blocks } = await readHeader(z, path, read);
  const first = Math.floor(start / blockSize);
  const end = Math.min(z.size, start + length);
  const last = Math.ceil(end / blockSize); // exclusive
  const dataStart = table + (blocks + 1) * pointerSize;
  let window: number[] = [];
  let windowFirst = -1;
  const pointer = async (i: number): Promise<number> => {
    if (i < windowFirst || i >= windowFirst + window.length) {
      windowFirst = i;
      const count = Math.min(POINTER_WINDOW, blocks + 1 - i);
      const bytes = await read(table + i * pointerSize, count * pointerSize);
      window = [];
      for (let k = 0; k < count; k++) {
        const at = k * pointerSize;
        const lo = bytes[at] + bytes[at + 1] * 0x100 + bytes[at + 2] * 0x10000 + bytes[at + 3] * 0x1000000;
        window.push(
          pointerSize === 8
            ? lo + (bytes[at + 4] + bytes[at + 5] * 0x100 + bytes[at + 6] * 0x10000 + bytes[at + 7] * 0x1000000) * 0x100000000
            : lo,
        );
      }
    }
    return window[i - windowFirst];
  };
  const stream = new ZStream();
  zlibInflateInit2(stream, 15);
  // A deflate stream of one block is at most a little longer than the block (stored blocks); more is a lie.
  const maxCompressed = blockSize + (blockSize >> 4) + 64;
  // Empty blocks (zeros) share one buffer: a 4.5 GB file of zeros costs no allocation per block. Readers never write into chunks.
  let zeros: Uint8Array | undefined;
  let next = await pointer(first);
  for (let block = first; block < last; block++) {
    const from = next;
    next = await pointer(block + 1);
    const blockStart = block * blockSize;
    const blockLength = Math.min(blockSize, z.size - blockStart);
    if (from < dataStart || from > z.stored)
      fail(path, `block ${block} starts at byte ${from}, outside the data (${dataStart}–${z.stored})`, block, from);
    if (next < from) fail(path, `block pointers ${block} and ${block + 1} are out of order (${from} > ${next})`, block, next);
    if (next > z.stored)
      fail(path, `block ${block} ends at byte ${next}, past the end of the stored file (${z.stored} bytes)`, block, next);
    if (next - from > maxCompressed)
      fail(path, `block ${block} is ${next - from} bytes compressed, more than a ${blockSize}-byte block can take`, block, next - from);
    let out: Uint8Array;
    if (next === from) out = (zeros ??= new Uint8Array(blockSize)).subarray(0, blockLength);
    else {
      out = new Uint8Array(blockLength + 1);
      zlibInflateReset(stream);
      stream.input = await read(from, next - from);
      stream.next_in = 0;
      stream.avail_in = stream.input.length;
      stream.output = out as Uint8Array<ArrayBuffer>;
      stream.next_out = 0;
      stream.avail_out = out.length;
      const status = zlibInflate(stream, Z_FINISH);
      const produced = stream.next_out;
      stream.input = new Uint8Array(0);
      if (produced > blockLength) fail(path, `block ${block} inflates to more than its ${blockLength} bytes`, block, produced);
      if (status !== Z_STREAM_END || produced !== blockLength)
        fail(
          path,
          `block ${block} does not inflate to its ${blockLength} bytes (${status === Z_STREAM_END ? `${produced} bytes` : 'the zlib stream is damaged or cut short'})`,
          block,
          produced,
        );
      out = out.subarray(0, blockLength);
    }
    const skip = Math.max(0, start - blockStart);
    const take = Math.min(blockLength, end - blockStart);
    yield skip === 0 && take === blockLength ? out : out.subarray(skip, take);
  }
}
