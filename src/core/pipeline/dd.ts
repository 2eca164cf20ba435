/**
 * qemu-img dd: a byte range of the input disk (skip × bs, count × bs) copied to the start of a new
 * image. Unlike convert, every byte is written, zeros included (img_dd does plain blk_pwrite
 * calls, with no block status and no zero detection), so a qcow2 output has every cluster
 * allocated, exactly as qemu-img convert -S 0 would lay it out. Memory stays bounded whatever bs
 * is: qemu-img reads one block of bs bytes at a time (up to 2 GiB); we copy in pieces of at most
 * DD_PIECE bytes, in the same ascending order, which gives the same file.
 */
import { isAllZero } from '../bytes.ts';
import type { DiskImage } from '../disk.ts';
import type { GuestWriter } from '../formats/output/guest-writer.ts';
import type { Sink } from '../sink.ts';
import { throwIfAborted, type ConvertOptions } from './convert.ts';

/** bs's default in qemu-img dd, and its bounds (cvtnum_full("bs", arg, 1, INT_MAX)). */
export const DD_DEFAULT_BLOCK = 512;
export const DD_MAX_BLOCK = 0x7fffffff;
const DD_PIECE = 4 * 1024 * 1024;
const SPARSE_BLOCK = 4096;

export interface DdOperands {
  blockSize: number;
  /** count=: how many blocks to copy; absent, to the input's end. */
  count?: bigint;
  /** skip=: how many blocks of the input to pass over first. */
  skip?: bigint;
}

export interface DdRange {
  /** Where the copy starts in the input. */
  start: number;
  /** How many bytes are copied: the output's virtual size (before rounding to a sector). */
  length: number;
  /** skip= went past the input's end: qemu-img warns ("cannot skip to specified offset") and makes an empty image. */
  skippedPastEnd: boolean;
}

/** img_dd's arithmetic, in 64-bit signed integers as QEMU does it. */
export function ddRange(inputSize: number, operands: DdOperands): DdRange {
  const INT64_MAX = (1n << 63n) - 1n;
  const bs = BigInt(operands.blockSize);
  let size = BigInt(inputSize);
  if (operands.count !== undefined && operands.count <= INT64_MAX / bs && operands.count * bs < size) size = operands.count * bs;
  const skip = operands.skip ?? 0n;
  if (operands.skip !== undefined && (skip > INT64_MAX / bs || size < skip * bs))
    return { start: Number(size), length: 0, skippedPastEnd: true };
  const start = skip * bs;
  return { start: Number(start), length: Number(size - start), skippedPastEnd: false };
}

/** The output's size as the create step makes it: the range's length in whole sectors. */
export const ddOutputSize = (range: DdRange): number => Math.ceil(range.length / 512) * 512;

/**
 * A raw image written through the writer shape: the file is its disk. Zero blocks are left as
 * holes (the file was sized first), which reads the same as qemu-img's written zeros.
 */
export async function rawGuestWriter(sink: Sink, virtualSize: number): Promise<GuestWriter> {
  if (sink.truncate) await sink.truncate(virtualSize);
  return {
    async write(guestOffset, bytes) {
      if (!sink.truncate) return sink.write(guestOffset, bytes);
      for (let at = 0; at < bytes.length; at += SPARSE_BLOCK) {
        const block = bytes.subarray(at, at + SPARSE_BLOCK);
        if (!isAllZero(block)) await sink.write(guestOffset + at, block);
      }
    },
    async finish() {},
  };
}

/** Copies `range` of `image` to guest offset 0 of `writer`, every byte written, front to back. */
export async function ddCopy(image: DiskImage, writer: GuestWriter, range: DdRange, options: ConvertOptions = {}): Promise<void> {
  const buffer = new Uint8Array(Math.min(DD_PIECE, Math.max(range.length, 1)));
  for (let done = 0; done < range.length;) {
    throwIfAborted(options.signal);
    const piece = buffer.subarray(0, Math.min(buffer.length, range.length - done));
    await image.readInto(range.start + done, piece);
    await writer.write(done, piece);
    done += piece.length;
    options.onProgress?.(done, range.length);
  }
  await writer.finish();
}
