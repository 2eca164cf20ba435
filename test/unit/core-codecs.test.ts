/**
 * Cluster decoders: they must fill exactly one cluster and ignore what follows the stream (the
 * stored length is sector-rounded and runs into the next compressed cluster), as QEMU does.
 * Compressed data comes from real zlib (node:zlib, QEMU's parameters) and the real zstd CLI.
 */
import { execFileSync } from 'node:child_process';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { RawInflater } from '../../src/core/codecs/inflate.ts';
import { zstdDecodeCluster, zstdDecodeFrames, zstdFrameLength } from '../../src/core/codecs/zstd-frames.ts';
import { nodeDecoders } from '../../src/node/decoders.ts';

const CLUSTER = 65536;

function textCluster(seed: number, length = CLUSTER): Uint8Array {
  const words = ['qcow2', 'cluster', 'refcount', 'backing', 'snapshot', 'L2', 'zero', 'guest', 'host'];
  let text = '';
  let state = seed;
  while (text.length < length) {
    state = (state * 1103515245 + 12345) >>> 0;
    text += `${words[state % words.length]} ${state % 1000} `;
  }
  return new Uint8Array(Buffer.from(text.slice(0, length)));
}

const qemuDeflate = (data: Uint8Array) => new Uint8Array(deflateRawSync(data, { level: 6, windowBits: 12, memLevel: 9 }));
const zstd = (data: Uint8Array) => new Uint8Array(execFileSync('zstd', ['-3', '--no-check', '-c', '-q'], { input: data }));

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

describe('raw deflate', () => {
  const inflater = new RawInflater();

  it('decodes a cluster followed by the start of the next one', () => {
    const cluster = textCluster(1);
    const stored = concat(qemuDeflate(cluster), qemuDeflate(textCluster(2)).subarray(0, 300));
    expect(inflater.inflate(stored, new Uint8Array(CLUSTER))).toEqual(cluster);
  });

  it('decodes a stream made with a 32 KiB window too (QEMU 7.2 accepts it)', () => {
    const cluster = textCluster(3);
    const wide = new Uint8Array(deflateRawSync(cluster, { level: 9, windowBits: 15 }));
    expect(inflater.inflate(wide, new Uint8Array(CLUSTER))).toEqual(cluster);
  });

  it('refuses a stream that ends before the cluster is full', () => {
    expect(inflater.inflate(qemuDeflate(textCluster(4, CLUSTER - 1)), new Uint8Array(CLUSTER))).toBeNull();
  });

  it('refuses garbage and keeps working afterwards', () => {
    expect(inflater.inflate(new Uint8Array(512).fill(0xff), new Uint8Array(CLUSTER))).toBeNull();
    const cluster = textCluster(5);
    expect(inflater.inflate(qemuDeflate(cluster), new Uint8Array(CLUSTER))).toEqual(cluster);
  });
});

describe('zstd', () => {
  it('measures a frame exactly, whatever follows it', () => {
    const frame = zstd(textCluster(6));
    expect(zstdFrameLength(concat(frame, zstd(textCluster(7))), 0)).toBe(frame.length);
    expect(zstdFrameLength(frame.subarray(0, frame.length - 1), 0)).toBe(-1);
    expect(zstdFrameLength(new Uint8Array([1, 2, 3, 4, 5]), 0)).toBe(-1);
  });

  it('decodes frames padded with zeros (as Btrfs stores them) to less than the room, saying where they end', () => {
    const data = textCluster(11, 30_000);
    const frame = zstd(data);
    const out = new Uint8Array(CLUSTER);
    expect(zstdDecodeFrames(concat(frame, new Uint8Array(4096 - (frame.length % 4096))), out)).toEqual({
      written: 30_000,
      read: frame.length,
    });
    expect(out.subarray(0, 30_000)).toEqual(data);
  });

  it('refuses, before allocating, a frame whose header claims more than the room (a content size of 1 GiB, a 1 GiB window)', () => {
    const frame = zstd(textCluster(12, 1000));
    const d = frame[4];
    const single = (d & 0x20) !== 0;
    const blocks = frame.subarray(5 + (single ? 0 : 1) + [0, 1, 2, 4][d & 3] + [single ? 1 : 0, 2, 4, 8][d >> 6]);
    const magic = frame.subarray(0, 4);
    const checksum = d & 0x04;
    // Single segment, an 8-byte content size of 2^30.
    const claimsContent = concat(magic, new Uint8Array([0xe0 | checksum, 0, 0, 0, 0x40, 0, 0, 0, 0]), blocks);
    // No content size, a window of 2^30 (exponent 20).
    const claimsWindow = concat(magic, new Uint8Array([checksum, 20 << 3]), blocks);
    for (const hostile of [claimsContent, claimsWindow]) {
      const before = process.memoryUsage().arrayBuffers;
      expect(zstdDecodeFrames(hostile, new Uint8Array(CLUSTER))).toBeNull();
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
    }
  });
});

// The portable decoder, and the page's and CLI's libzstd in WASM (which falls back to it).
for (const [name, decode] of [
  ['fzstd', zstdDecodeCluster],
  ['libzstd in WASM', (await nodeDecoders()).zstd],
] as const) {
  describe(`zstd clusters decoded by ${name}`, () => {
    it('decodes a cluster followed by the next compressed cluster', () => {
      const cluster = textCluster(8);
      const stored = concat(zstd(cluster), zstd(textCluster(9)).subarray(0, 200));
      expect(decode(stored, new Uint8Array(CLUSTER))).toEqual(cluster);
    });

    it('accepts a cluster split over two frames, as QEMU does', () => {
      const cluster = textCluster(10);
      const stored = concat(zstd(cluster.subarray(0, 40000)), zstd(cluster.subarray(40000)));
      expect(decode(stored, new Uint8Array(CLUSTER))).toEqual(cluster);
    });

    it('refuses frames that decode to more or less than a cluster', () => {
      expect(decode(zstd(textCluster(11, CLUSTER + 1)), new Uint8Array(CLUSTER))).toBeNull();
      expect(decode(zstd(textCluster(12, CLUSTER - 1)), new Uint8Array(CLUSTER))).toBeNull();
    });

    it('refuses a frame with a damaged block', () => {
      const frame = zstd(textCluster(13));
      frame.fill(0xff, 12, 40);
      expect(decode(frame, new Uint8Array(CLUSTER))).toBeNull();
    });
  });
}
