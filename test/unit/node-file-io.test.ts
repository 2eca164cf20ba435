/**
 * The CLI's file I/O: writes kept in flight land as if made one after the other, large reads on
 * the thread pool return the same bytes as small ones, and page-aligned buffers are reused but
 * never handed out twice at once.
 */
import { readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openImage } from '../../src/core/open.ts';
import { convertToQcow2 } from '../../src/core/pipeline/convert-qcow2.ts';
import { MemorySink } from '../../src/core/sink.ts';
import { PageAlignedBuffers } from '../../src/node/aligned-buffers.ts';
import { NodeFileSink } from '../../src/node/file-sink.ts';
import { NodeFileStorage } from '../../src/node/file-storage.ts';
import { pattern } from '../interop/fixtures.ts';
import { scratchDir } from '../support/qemu.ts';

const dir = scratchDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const random = (seed: number) => () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;

describe('NodeFileSink with writes in flight', () => {
  it('lands overlapping writes in the order they were made, small or large, none awaited', async () => {
    const path = join(dir, 'overlap.bin');
    const sink = await NodeFileSink.create(path);
    const expected = new MemorySink();
    const next = random(5);
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 300; i++) {
      const length = next() < 0.3 ? (256 << 10) + Math.floor(next() * (2 << 20)) : 1 + Math.floor(next() * 9000);
      const offset = Math.floor(next() * (6 << 20));
      const bytes = new Uint8Array(length).fill((i % 250) + 1);
      writes.push(sink.write(offset, bytes));
      await expected.write(offset, bytes);
    }
    await Promise.all(writes);
    await sink.close();
    expect(Buffer.from(readFileSync(path)).equals(Buffer.from(expected.bytes))).toBe(true);
  });

  it('says where a write failed when it went to the thread pool', async () => {
    const sink = await NodeFileSink.create('/dev/full');
    await expect(sink.write(4096, new Uint8Array(1 << 20))).rejects.toThrow(
      "Could not write to '/dev/full' at offset 4096: No space left on device",
    );
    await sink.close();
  });

  it('writes the same qcow2 as a sink taking one write at a time', async () => {
    // Zero runs of 4 KiB inside clusters: partly written clusters, whose zero fill and data overlap.
    const source = join(dir, 'holes.raw');
    const parts: Buffer[] = [];
    for (let i = 0; i < 40; i++)
      parts.push(pattern(i % 3 === 0 ? 'random' : 'text', 4096 * (1 + (i % 7)), i + 1), pattern('zero', 4096 * (i % 5), 0));
    parts.push(pattern('random', 3 << 20, 77), pattern('zero', 2 << 20, 0), pattern('text', 5 << 20, 78));
    writeFileSync(source, Buffer.concat(parts));
    const image = await openImage(await NodeFileStorage.open(source));
    const one = new MemorySink();
    await convertToQcow2(image, one);
    const target = join(dir, 'holes.qcow2');
    const file = await NodeFileSink.create(target);
    await convertToQcow2(image, file);
    await file.close();
    await image.close();
    expect(Buffer.from(readFileSync(target)).equals(Buffer.from(one.bytes))).toBe(true);
  });
});

describe('NodeFileStorage reads', () => {
  const bytes = Buffer.concat([pattern('random', 3 << 20, 9), pattern('text', 1_000_003, 10)]);
  const path = join(dir, 'read.bin');

  it('gives the same bytes through the thread pool (large reads) as in place (small ones), zeros past the end', async () => {
    writeFileSync(path, bytes);
    const storage = await NodeFileStorage.open(path);
    const large = new Uint8Array(2 << 20);
    await storage.readInto(bytes.length - (1 << 20), large);
    expect(Buffer.from(large.subarray(0, 1 << 20)).equals(bytes.subarray(bytes.length - (1 << 20)))).toBe(true);
    expect(large.subarray(1 << 20).every((b) => b === 0)).toBe(true);
    const small = await storage.read(12345, 4000);
    expect(Buffer.from(small).equals(bytes.subarray(12345, 16345))).toBe(true);
    await storage.close();
  });

  it('stops with a clear error when the file shrinks under a large read', async () => {
    writeFileSync(path, bytes);
    const storage = await NodeFileStorage.open(path);
    truncateSync(path, 1 << 20);
    await expect(storage.readInto(0, new Uint8Array(2 << 20))).rejects.toThrow(
      `'${path}' shrank while being read: it had ${bytes.length} bytes when opened, and ends before offset ${1 << 20} now`,
    );
    await storage.close();
  });
});

describe('PageAlignedBuffers', () => {
  it('hands out blocks of the length asked, reuses released ones, and never gives one out twice at once', () => {
    const buffers = new PageAlignedBuffers();
    const held = [buffers.acquire(2 << 20), buffers.acquire(100), buffers.acquire(2 << 20), buffers.acquire(70000)];
    expect(held.map((b) => b.length)).toEqual([2 << 20, 100, 2 << 20, 70000]);
    for (const b of held) expect(b.byteOffset % 65536).toBe(0);
    held.forEach((b, i) => b.fill(i + 1));
    held.forEach((b, i) => expect(b.every((x) => x === i + 1)).toBe(true));
    const first = held[0];
    buffers.release(first);
    const again = buffers.acquire((2 << 20) - 5);
    expect(again.byteOffset).toBe(first.byteOffset);
    expect(again.length).toBe((2 << 20) - 5);
    const fresh = buffers.acquire(2 << 20);
    expect([held[2].byteOffset, again.byteOffset]).not.toContain(fresh.byteOffset);
  });

  it('ignores a buffer it did not hand out', () => {
    const buffers = new PageAlignedBuffers();
    buffers.release(new Uint8Array(65536));
    const a = buffers.acquire(65536);
    const b = buffers.acquire(65536);
    expect(a.byteOffset).not.toBe(b.byteOffset);
  });
});
