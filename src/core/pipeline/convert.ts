/**
 * Any disk image → a raw image, fed from the chain's mappings: holes and zero extents are never
 * read, only data is. On a seekable sink zeros are left as holes (qemu-img's -S 4k: 4 KiB blocks
 * that read as zero are not written); a sequential sink gets every byte.
 */
import { isAllZero } from '../bytes.ts';
import type { DiskImage } from '../disk.ts';
import { DiskImgError } from '../errors.ts';
import type { Sink } from '../sink.ts';
import { BufferPool } from './buffer-pool.ts';
import type { BufferAllocator } from '../storage/storage.ts';
import { runOrdered } from './ordered.ts';

export interface ConvertOptions {
  onProgress?(done: number, total: number): void;
  signal?: AbortSignal;
}

/** Guest bytes read per task: big enough to amortise a read, small enough to keep memory flat. */
export const CHUNK_BYTES = 4 * 1024 * 1024;
const READS_IN_FLIGHT = 4;
/** Pieces whose writes may be in flight at once (on a sink that allows it). */
const WRITES_IN_FLIGHT = 8;
export const SPARSE_BLOCK = 4096;

interface Piece {
  offset: number;
  /** null: the piece reads as zeros. */
  bytes: Uint8Array | null;
  length: number;
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new DiskImgError('aborted', 'Cancelled');
}

/**
 * The guest disk as read tasks: runs of data and compressed extents are batched into reads of up
 * to CHUNK_BYTES (a compressed source has one extent per cluster, and a write per cluster would
 * cost more than the data); zero and unallocated extents are never read.
 */
async function* pieces(image: DiskImage, pool: BufferAllocator, signal?: AbortSignal): AsyncGenerator<() => Promise<Piece>> {
  const inPlace = BufferPool.fillsInPlace(image);
  let batchStart = 0;
  let batchEnd = 0;
  const flush = (): (() => Promise<Piece>) | undefined => {
    if (batchEnd === batchStart) return undefined;
    const offset = batchStart;
    const length = batchEnd - batchStart;
    batchStart = batchEnd;
    return async () => {
      if (!inPlace) return { offset, length, bytes: await image.read(offset, length) };
      const bytes = pool.acquire(length);
      await image.readInto(offset, bytes);
      return { offset, length, bytes };
    };
  };
  for await (const extent of image.mappings()) {
    throwIfAborted(signal);
    if (extent.kind === 'zero' || extent.kind === 'unallocated') {
      const pending = flush();
      if (pending) yield pending;
      yield async () => ({ offset: extent.start, length: extent.length, bytes: null });
      batchStart = batchEnd = extent.start + extent.length;
      continue;
    }
    for (let at = extent.start; at < extent.start + extent.length;) {
      const step = Math.min(extent.start + extent.length, batchStart + CHUNK_BYTES) - at;
      batchEnd = at + step;
      at += step;
      if (batchEnd - batchStart >= CHUNK_BYTES) yield flush()!;
    }
  }
  const last = flush();
  if (last) yield last;
}

export async function convertToRaw(image: DiskImage, sink: Sink, options: ConvertOptions = {}): Promise<void> {
  const total = image.virtualSize;
  const sparse = sink.truncate !== undefined;
  if (sparse) await sink.truncate!(total);
  let done = 0;
  const zeros = sparse ? undefined : new Uint8Array(Math.min(CHUNK_BYTES, Math.max(total, 1)));
  const pool = BufferPool.forImage(image);
  const inPlace = BufferPool.fillsInPlace(image);
  // Where the sink allows it, a piece's writes stay in flight while the next pieces are read and
  // decoded; its buffer goes back to the pool once they land.
  const landing: Promise<void>[] = [];
  try {
    await runOrdered(pieces(image, pool, options.signal), inPlace ? READS_IN_FLIGHT : 2 * READS_IN_FLIGHT, async (piece) => {
      throwIfAborted(options.signal);
      if (piece.bytes === null) {
        if (!sparse) {
          // A hole can be most of the disk (a download of a 16 GiB sparse disk): progress as it goes.
          for (let at = 0; at < piece.length; at += zeros!.length) {
            const length = Math.min(zeros!.length, piece.length - at);
            await sink.write(piece.offset + at, zeros!.subarray(0, length));
            options.onProgress?.(done + at + length, total);
          }
        }
      } else if (sink.concurrent) {
        const bytes = piece.bytes;
        const writes = sparse
          ? nonZeroRuns(bytes).map(([from, to]) => sink.write(piece.offset + from, bytes.subarray(from, to)))
          : [sink.write(piece.offset, bytes)];
        const landed = Promise.all(writes).then(() => {
          if (inPlace) pool.release(bytes);
        });
        landed.catch(() => {}); // surfaced when awaited below
        landing.push(landed);
        if (landing.length >= WRITES_IN_FLIGHT) await landing.shift();
      } else {
        if (sparse)
          for (const [from, to] of nonZeroRuns(piece.bytes)) await sink.write(piece.offset + from, piece.bytes.subarray(from, to));
        else await sink.write(piece.offset, piece.bytes);
        if (inPlace) pool.release(piece.bytes);
      }
      done += piece.length;
      options.onProgress?.(done, total);
    });
    while (landing.length > 0) await landing.shift();
  } finally {
    await Promise.allSettled(landing);
  }
  options.onProgress?.(total, total);
}

/** The runs of `bytes` whose 4 KiB blocks are not all zero: the zero ones stay holes. */
function nonZeroRuns(bytes: Uint8Array): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  let runStart = -1;
  for (let at = 0; at < bytes.length; at += SPARSE_BLOCK) {
    const zero = isAllZero(bytes.subarray(at, at + SPARSE_BLOCK));
    if (!zero && runStart < 0) runStart = at;
    if (zero && runStart >= 0) {
      runs.push([runStart, at]);
      runStart = -1;
    }
  }
  if (runStart >= 0) runs.push([runStart, bytes.length]);
  return runs;
}
