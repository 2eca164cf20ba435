/**
 * zstd decoding of one qcow2 cluster, as QEMU's qcow2_zstd_decompress accepts it: one or more
 * frames whose output fills the cluster exactly; bytes after that are ignored. Btrfs' zstd
 * extents are the same frames, padded to a sector, and may decode to less than the extent holds. fzstd decodes one
 * frame at a time, so the frames are first cut out by walking their headers (RFC 8878 §3.1).
 */
import { decompress } from 'fzstd';

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

/** Length in bytes of the frame starting at `at`, or -1 if it is malformed or cut short. */
export function zstdFrameLength(data: Uint8Array, at: number): number {
  if (at + 4 > data.length) return -1;
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const magic = v.getUint32(at, true);
  if ((magic & SKIPPABLE_MASK) === SKIPPABLE_MAGIC >>> 0) {
    if (at + 8 > data.length) return -1;
    const length = 8 + v.getUint32(at + 4, true);
    return at + length <= data.length ? length : -1;
  }
  if (magic !== ZSTD_MAGIC) return -1;
  let p = at + 4;
  if (p >= data.length) return -1;
  const descriptor = data[p++];
  const singleSegment = (descriptor & 0x20) !== 0;
  const hasChecksum = (descriptor & 0x04) !== 0;
  const dictionaryIdBytes = [0, 1, 2, 4][descriptor & 3];
  const contentSizeBytes = [singleSegment ? 1 : 0, 2, 4, 8][descriptor >> 6];
  p += (singleSegment ? 0 : 1) + dictionaryIdBytes + contentSizeBytes;
  for (;;) {
    if (p + 3 > data.length) return -1;
    const header = data[p] | (data[p + 1] << 8) | (data[p + 2] << 16);
    p += 3;
    const last = (header & 1) !== 0;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === 3) return -1;
    p += type === 1 ? 1 : size;
    if (p > data.length) return -1;
    if (last) break;
  }
  p += hasChecksum ? 4 : 0;
  return p <= data.length ? p - at : -1;
}

/**
 * What fzstd allocates to decode `frame`: its content size when the header gives one,
 * else its window. Checked before decoding, so a damaged header cannot ask for gigabytes.
 */
function frameAllocation(frame: Uint8Array): { bytes: number; contentSize: boolean } {
  const descriptor = frame[4];
  const singleSegment = (descriptor & 0x20) !== 0;
  const contentSizeBytes = [singleSegment ? 1 : 0, 2, 4, 8][descriptor >> 6];
  const at = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][descriptor & 3];
  if (contentSizeBytes > 0) {
    let size = 0;
    for (let i = contentSizeBytes - 1; i >= 0; i--) size = size * 256 + frame[at + i];
    return { bytes: size + (contentSizeBytes === 2 ? 256 : 0), contentSize: true };
  }
  const window = frame[5];
  const base = 2 ** (10 + (window >> 3));
  return { bytes: base + (base / 8) * (window & 7), contentSize: false };
}

/** A frame without a content size may declare a window this much larger than the room left. */
const WINDOW_ALLOWANCE = 8 << 20;

/**
 * Decodes the frames at the start of `input` into `out`, until `out` is full or the bytes no
 * longer begin a frame (padding, or the end); null when a frame is damaged or would overflow
 * `out`. `written` is what was decoded, `read` where the frames end.
 */
export function zstdDecodeFrames(input: Uint8Array, out: Uint8Array): { written: number; read: number } | null {
  let read = 0;
  let written = 0;
  while (written < out.length) {
    const length = zstdFrameLength(input, read);
    if (length < 0) break;
    const frame = input.subarray(read, read + length);
    read += length;
    if ((new DataView(frame.buffer, frame.byteOffset, 4).getUint32(0, true) & SKIPPABLE_MASK) === SKIPPABLE_MAGIC >>> 0) continue;
    const room = out.length - written;
    const allocation = frameAllocation(frame);
    if (allocation.bytes > room + (allocation.contentSize ? 0 : WINDOW_ALLOWANCE)) return null;
    let decoded: Uint8Array;
    try {
      decoded = decompress(frame);
    } catch {
      return null;
    }
    if (decoded.length > room) return null;
    out.set(decoded, written);
    written += decoded.length;
  }
  return { written, read };
}

/** Fills `out` from the frames at the start of `input`; null when they do not fill it exactly (bytes after them are ignored). */
export function zstdDecodeCluster(input: Uint8Array, out: Uint8Array): Uint8Array | null {
  return zstdDecodeFrames(input, out)?.written === out.length ? out : null;
}
