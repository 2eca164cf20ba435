/**
 * A compressed conversion from storage without readInto writes the same file as one from a Node
 * file; coalesced writes and cached reads give the same bytes as direct ones.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deflateCompressor, inlineCompressor } from '../../src/core/codecs/compress.ts';
import { openImage } from '../../src/core/open.ts';
import { convertToQcow2 } from '../../src/core/pipeline/convert-qcow2.ts';
import { MemorySink } from '../../src/core/sink.ts';
import { MemoryStorage } from '../../src/core/storage/storage.ts';
import { NodeFileStorage } from '../../src/node/file-storage.ts';
import { pattern } from '../interop/fixtures.ts';
import { scratchDir } from '../support/qemu.ts';

const dir = scratchDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const bytes = new Uint8Array(
  Buffer.concat([
    pattern('text', 3_000_000, 1),
    pattern('zero', 2_000_000, 0),
    pattern('random', 1_000_000, 2),
    pattern('text', 1_000_123, 3),
  ]),
);

describe('reads into fresh buffers', () => {
  it('a compressed conversion from storage without readInto equals the one from a file', async () => {
    const file = join(dir, 'src.raw');
    writeFileSync(file, bytes);
    const outputs: Uint8Array[] = [];
    for (const storage of [new MemoryStorage(bytes, 'm.raw'), await NodeFileStorage.open(file)]) {
      const image = await openImage(storage);
      const sink = new MemorySink();
      await convertToQcow2(image, sink, { compressor: inlineCompressor(deflateCompressor(65536)) });
      outputs.push(sink.bytes);
      await image.close();
    }
    expect(Buffer.from(outputs[0]).equals(Buffer.from(outputs[1]))).toBe(true);
  });
});

describe('coalescing sink', () => {
  it('writes the same file as direct writes, whatever the order of small, large and repeated writes', async () => {
    const { CoalescingSink } = await import('../../src/core/sink.ts');
    const direct = new MemorySink();
    const inner = new MemorySink();
    let calls = 0;
    const counted = {
      write: (o: number, b: Uint8Array) => (calls++, inner.write(o, b)),
      truncate: (n: number) => inner.truncate(n),
      close: () => inner.close(),
    };
    const coalesced = new CoalescingSink(counted, 1 << 16);
    const random = (seed: number) => () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const next = random(9);
    let at = 0;
    for (let i = 0; i < 2000; i++) {
      const length = next() < 0.05 ? 40_000 : 1 + Math.floor(next() * 3000);
      const offset = next() < 0.1 ? Math.floor(next() * at) : at; // now and then a rewrite behind
      const bytes = new Uint8Array(length).fill(i & 0xff);
      await direct.write(offset, bytes);
      await coalesced.write(offset, bytes);
      at = Math.max(at, offset + length);
    }
    await coalesced.close();
    expect(Buffer.from(inner.bytes).equals(Buffer.from(direct.bytes))).toBe(true);
    expect(calls).toBeLessThan(1000);
  });
});

describe('cached storage', () => {
  it('returns the bytes of any range, small or large, across blocks and past the end', async () => {
    const { CachedStorage } = await import('../../src/core/storage/cached.ts');
    const inner = new MemoryStorage(bytes, 'm');
    let reads = 0;
    const counted = { name: 'm', size: inner.size, read: (o: number, l: number) => (reads++, inner.read(o, l)) };
    const cached = new CachedStorage(counted, 1 << 16, 4);
    const expected = (o: number, l: number) =>
      Buffer.concat([Buffer.from(bytes.subarray(o, o + l)), Buffer.alloc(Math.max(0, o + l - bytes.length))]);
    for (let i = 0; i < 500; i++) {
      const offset = (i * 7919 * 13) % bytes.length;
      const length = 1 + ((i * 104729) % 3000);
      expect(Buffer.from(await cached.read(offset, length)).equals(expected(offset, length))).toBe(true);
    }
    for (const [offset, length] of [
      [65530, 20],
      [bytes.length - 5, 50],
      [0, 1 << 20],
    ]) {
      expect(Buffer.from(await cached.read(offset, length)).equals(expected(offset, length))).toBe(true);
    }
    // readShared gives the same bytes, as views of the cached blocks where a read fits in one.
    for (const [offset, length] of [
      [100, 3000],
      [(1 << 16) - 10, 20],
      [bytes.length - 5, 50],
      [0, 1 << 20],
    ]) {
      expect(Buffer.from(await cached.readShared(offset, length)).equals(expected(offset, length))).toBe(true);
    }
    const inBlock = await cached.readShared(1 << 16, 4096);
    expect(inBlock.byteLength).toBe(4096);
    expect(inBlock.buffer.byteLength).toBe(1 << 16); // a view of the block, not a copy
    // Sequential small reads cost one inner read per block.
    reads = 0;
    const fresh = new CachedStorage(counted, 1 << 16, 4);
    for (let at = 0; at < 1 << 20; at += 4096) await fresh.read(at, 4096);
    expect(reads).toBe(16);
  });
});
