/**
 * A Blob read through its stream (readInto) gives the same bytes as slices, whatever the order of
 * reads; a stream that stalls or fails falls back or reports clearly; cached storage passes large
 * and continuing reads through to it; and a conversion from a Blob writes the same file as one
 * from a Node file.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deflateCompressor, inlineCompressor } from '../../src/core/codecs/compress.ts';
import { DiskImgError } from '../../src/core/errors.ts';
import { openImage } from '../../src/core/open.ts';
import { convertToQcow2 } from '../../src/core/pipeline/convert-qcow2.ts';
import { MemorySink } from '../../src/core/sink.ts';
import { BlobStorage } from '../../src/core/storage/blob.ts';
import { CachedStorage } from '../../src/core/storage/cached.ts';
import { MemoryStorage } from '../../src/core/storage/storage.ts';
import { NodeFileStorage } from '../../src/node/file-storage.ts';
import { pattern } from '../interop/fixtures.ts';
import { scratchDir } from '../support/qemu.ts';

const dir = scratchDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const bytes = new Uint8Array(
  Buffer.concat([pattern('random', 9_000_000, 1), pattern('zero', 3_000_000, 0), pattern('text', 5_000_321, 3)]),
);
const expected = (offset: number, length: number) =>
  Buffer.concat([
    Buffer.from(bytes.subarray(offset, offset + length)),
    Buffer.alloc(Math.max(0, offset + length - Math.max(offset, bytes.length))),
  ]);

async function readAll(storage: BlobStorage, reads: Array<[number, number]>, concurrently = false): Promise<void> {
  const one = async ([offset, length]: [number, number]) => {
    const target = new Uint8Array(length).fill(0xee);
    await storage.readInto(offset, target);
    expect(Buffer.from(target).equals(expected(offset, length)), `${offset}+${length}`).toBe(true);
  };
  if (concurrently) await Promise.all(reads.map(one));
  else for (const read of reads) await one(read);
}

/** A Blob whose stream misbehaves; its slices are a real Blob's. */
class FaultyStreamBlob extends Blob {
  /** How many of these streams were cancelled. */
  static cancelled = 0;

  constructor(
    parts: BlobPart[],
    private readonly fault: 'stall' | 'error' | 'not-bytes',
  ) {
    super(parts);
  }

  override slice(start?: number, end?: number): Blob {
    return new FaultyStreamBlob([super.slice(start, end)], this.fault);
  }

  override stream(): ReadableStream<Uint8Array<ArrayBuffer>> {
    const fault = this.fault;
    // A default (not byte) stream, as some browsers' Blobs give: it has no BYOB reader.
    if (fault === 'not-bytes')
      return new ReadableStream({
        pull: (controller) => controller.close(),
        cancel: () => void FaultyStreamBlob.cancelled++,
      }) as ReadableStream<Uint8Array<ArrayBuffer>>;
    return new ReadableStream({
      type: 'bytes',
      pull: () => (fault === 'stall' ? new Promise<void>(() => {}) : Promise.reject(new DOMException('file changed', 'NotReadableError'))),
    });
  }
}

describe('blob storage read through its stream', () => {
  it('serves sequential reads of any size, in order or many in flight', async () => {
    const steps = (size: number) => Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => [i * size, size] as [number, number]);
    await readAll(new BlobStorage(new Blob([bytes]), 'b'), steps(2 << 20));
    await readAll(new BlobStorage(new Blob([bytes]), 'b'), steps(65536), true);
    await readAll(new BlobStorage(new Blob([bytes]), 'b'), steps(1_000_003), true);
  });

  it('serves gaps, jumps back, far jumps, small random reads and reads past the end', async () => {
    const storage = new BlobStorage(new Blob([bytes]), 'b');
    await readAll(storage, [
      [0, 2 << 20],
      [(2 << 20) + 4096, 65536], // a small gap: skipped within the stream
      [(3 << 20) + 17, 1 << 20],
      [12_000_000, 3 << 20], // far ahead: a new stream
      [100, 5000], // behind, small: a slice
      [15_000_000, 65536], // continues the last large read
      [1 << 20, 2 << 20], // behind, large: a new stream
      [bytes.length - 1000, 1 << 20], // past the end: zeros
      [bytes.length + 10, 4096], // wholly past the end
    ]);
    const seeded = (seed: number) => () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const next = seeded(5);
    const random: Array<[number, number]> = Array.from({ length: 300 }, () => [
      Math.floor(next() * bytes.length),
      1 + Math.floor(next() * (next() < 0.1 ? 3 << 20 : 70_000)),
    ]);
    await readAll(storage, random);
    await readAll(storage, random.slice(0, 60), true);
  });

  it('a stream that stalls is given up and the reads go on by slices', async () => {
    const storage = new BlobStorage(new FaultyStreamBlob([bytes], 'stall'), 'stalls.raw', { stallMs: 50 });
    await readAll(storage, [
      [0, 2 << 20],
      [2 << 20, 2 << 20],
      [4 << 20, 65536],
    ]);
    expect(storage.fellBackToSlices).toBe(true);
  });

  it('a Blob whose stream has no BYOB reader is read by slices, and that stream is cancelled', async () => {
    // WebKit's: such a stream reads the whole Blob into memory unless it is cancelled.
    const storage = new BlobStorage(new FaultyStreamBlob([bytes], 'not-bytes'), 'plain.raw');
    const before = FaultyStreamBlob.cancelled;
    await readAll(storage, [
      [0, 2 << 20],
      [2 << 20, 65536],
    ]);
    expect(storage.fellBackToSlices).toBe(true);
    expect(FaultyStreamBlob.cancelled - before).toBe(1);
  });

  it('a stream that fails says which file and where', async () => {
    const storage = new BlobStorage(new FaultyStreamBlob([bytes], 'error'), 'gone.raw');
    const error = await storage.readInto(3 << 20, new Uint8Array(2 << 20)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DiskImgError);
    expect((error as DiskImgError).kind).toBe('io');
    expect((error as DiskImgError).message).toBe(
      `Could not read 'gone.raw' at offset ${3 << 20}: the file changed, moved or was removed after it was opened (NotReadableError)`,
    );
  });
});

describe('cached storage over a streaming one', () => {
  it('passes large and continuing reads through to readInto and caches the rest', async () => {
    const inner = new BlobStorage(new Blob([bytes]), 'b');
    let through = 0;
    let sliced = 0;
    const counted = {
      name: 'b',
      size: inner.size,
      read: (o: number, l: number) => (sliced++, inner.read(o, l)),
      readInto: (o: number, t: Uint8Array) => (through++, inner.readInto(o, t)),
    };
    const cached = new CachedStorage(counted, 1 << 20, 4);
    const check = async (offset: number, length: number) => {
      const target = new Uint8Array(length);
      await cached.readInto!(offset, target);
      expect(Buffer.from(target).equals(expected(offset, length)), `${offset}+${length}`).toBe(true);
    };
    await check(5000, 4096); // small, first: from a cached block
    expect([through, sliced]).toEqual([0, 1]);
    await check(9096, 4096); // continues it: through
    await check(1 << 20, 1 << 20); // large: through
    expect([through, sliced]).toEqual([2, 1]);
    await check(6000, 100); // small, behind: the cached block again
    expect([through, sliced]).toEqual([2, 1]);
  });

  it('has no readInto over storage without one', () => {
    expect(new CachedStorage(new MemoryStorage(bytes)).readInto).toBeUndefined();
  });
});

describe('conversion from a Blob', () => {
  it('writes the same qcow2 as from a file, plain and compressed', async () => {
    const file = join(dir, 'src.raw');
    writeFileSync(file, bytes);
    for (const compressor of [undefined, inlineCompressor(deflateCompressor(65536))]) {
      const outputs: Uint8Array[] = [];
      for (const storage of [new CachedStorage(new BlobStorage(new Blob([bytes]), 'b.raw')), await NodeFileStorage.open(file)]) {
        const image = await openImage(storage);
        const sink = new MemorySink();
        await convertToQcow2(image, sink, { compressor });
        outputs.push(sink.bytes);
        await image.close();
      }
      expect(Buffer.from(outputs[0]).equals(Buffer.from(outputs[1])), compressor ? 'compressed' : 'plain').toBe(true);
    }
  });
});
