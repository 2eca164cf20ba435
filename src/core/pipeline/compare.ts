/**
 * `qemu-img compare`: two disks are identical when every guest byte reads the same; a hole or a
 * zero extent equals explicit zeros, and a longer image's extra part must read as zeros. A
 * mismatch is reported at the 512-byte sector where it starts, as qemu-img does.
 */
import { isAllZero } from '../bytes.ts';
import type { DiskImage } from '../disk.ts';
import type { Extent } from '../image.ts';
import { CHUNK_BYTES, throwIfAborted } from './convert.ts';

export interface CompareResult {
  identical: boolean;
  /** First differing byte offset, rounded down to its 512-byte sector. */
  mismatchOffset?: number;
  sizeMismatch: boolean;
  /** With strict: why the images are not identical in strict mode. */
  strictFailure?: string;
}

export interface CompareOptions {
  strict?: boolean;
  onProgress?(done: number, total: number): void;
  signal?: AbortSignal;
}

const SECTOR = 512;
const readsAsZero = (e: Extent) => e.kind === 'zero' || e.kind === 'unallocated';

/** Walks the guest range in pieces where neither image changes kind, reading only what is needed. */
async function firstDifference(
  a: DiskImage,
  b: DiskImage,
  start: number,
  end: number,
  options: CompareOptions,
): Promise<number | undefined> {
  const left = a.mappings(start, end);
  const right = b.mappings(start, end);
  let ea = (await left.next()).value as Extent | undefined;
  let eb = (await right.next()).value as Extent | undefined;
  let at = start;
  while (at < end && ea && eb) {
    throwIfAborted(options.signal);
    const stop = Math.min(ea.start + ea.length, eb.start + eb.length, at + CHUNK_BYTES);
    if (!(readsAsZero(ea) && readsAsZero(eb))) {
      const [ba, bb] = await Promise.all([readsAsZero(ea) ? null : a.read(at, stop - at), readsAsZero(eb) ? null : b.read(at, stop - at)]);
      const offset = firstDifferentSector(ba, bb, stop - at);
      if (offset !== undefined) return at + offset;
    }
    at = stop;
    options.onProgress?.(at, end);
    if (at >= ea.start + ea.length) ea = (await left.next()).value as Extent | undefined;
    if (at >= eb.start + eb.length) eb = (await right.next()).value as Extent | undefined;
  }
  return undefined;
}

/** Offset of the first 512-byte sector that differs (null stands for zeros). */
function firstDifferentSector(a: Uint8Array | null, b: Uint8Array | null, length: number): number | undefined {
  for (let at = 0; at < length; at += SECTOR) {
    const end = Math.min(length, at + SECTOR);
    const sa = a?.subarray(at, end);
    const sb = b?.subarray(at, end);
    if (!sa) {
      if (!isAllZero(sb!)) return at;
    } else if (!sb) {
      if (!isAllZero(sa)) return at;
    } else {
      for (let i = 0; i < sa.length; i++) if (sa[i] !== sb[i]) return at;
    }
  }
  return undefined;
}

async function firstNonZero(image: DiskImage, start: number, end: number, options: CompareOptions): Promise<number | undefined> {
  for await (const extent of image.mappings(start, end)) {
    if (readsAsZero(extent)) continue;
    for (let at = extent.start; at < extent.start + extent.length; at += CHUNK_BYTES) {
      throwIfAborted(options.signal);
      const length = Math.min(CHUNK_BYTES, extent.start + extent.length - at);
      const offset = firstDifferentSector(await image.read(at, length), null, length);
      if (offset !== undefined) return at + offset;
    }
  }
  return undefined;
}

export async function compareImages(a: DiskImage, b: DiskImage, options: CompareOptions = {}): Promise<CompareResult> {
  const sizeMismatch = a.virtualSize !== b.virtualSize;
  if (sizeMismatch && options.strict) return { identical: false, sizeMismatch, strictFailure: 'Strict mode: Image size mismatch!' };
  const common = Math.min(a.virtualSize, b.virtualSize);
  const mismatch = await firstDifference(a, b, 0, common, options);
  if (mismatch !== undefined) return { identical: false, mismatchOffset: mismatch, sizeMismatch };
  if (sizeMismatch) {
    const longer = a.virtualSize > b.virtualSize ? a : b;
    const extra = await firstNonZero(longer, common, longer.virtualSize, options);
    if (extra !== undefined) return { identical: false, mismatchOffset: extra, sizeMismatch };
  }
  return { identical: true, sizeMismatch };
}
