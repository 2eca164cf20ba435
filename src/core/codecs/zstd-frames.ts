/**
 * zstd decoding of one qcow2 cluster, as QEMU's qcow2_zstd_decompress accepts it: one or more
 * frames whose output fills the cluster exactly; bytes after that are ignored. fzstd decodes one
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

/** Fills `out` from the frames at the start of `input`; null when they do not fill it exactly. */
export function zstdDecodeCluster(input: Uint8Array, out: Uint8Array): Uint8Array | null {
  let read = 0;
  let written = 0;
  while (written < out.length) {
    const length = zstdFrameLength(input, read);
    if (length < 0) return null;
    const frame = input.subarray(read, read + length);
    read += length;
    if ((new DataView(frame.buffer, frame.byteOffset, 4).getUint32(0, true) & SKIPPABLE_MASK) === SKIPPABLE_MAGIC >>> 0) continue;
    let decoded: Uint8Array;
    try {
      decoded = decompress(frame);
    } catch {
      return null;
    }
    if (written + decoded.length > out.length) return null;
    out.set(decoded, written);
    written += decoded.length;
    if (decoded.length === 0 && length === 0) return null;
  }
  return out;
}
