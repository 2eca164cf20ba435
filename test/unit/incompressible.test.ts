import { randomBytes } from 'node:crypto';
import { deflateRawSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { looksIncompressible } from '../../src/core/codecs/compress.ts';
import { pattern } from '../interop/fixtures.ts';

const CLUSTER = 65536;
const shrinks = (cluster: Uint8Array) => deflateRawSync(cluster, { level: 6, windowBits: 12, memLevel: 9 }).length < CLUSTER - 1;

describe('the incompressible-cluster guess', () => {
  it('says yes to noise and to already compressed data, which deflate cannot shrink', () => {
    const noise = randomBytes(CLUSTER);
    expect(looksIncompressible(noise)).toBe(true);
    expect(shrinks(noise)).toBe(false);
    const gz = gzipSync(pattern('text', 400_000, 5), { level: 9 }).subarray(0, CLUSTER);
    expect(looksIncompressible(gz)).toBe(true);
    expect(shrinks(gz)).toBe(false);
  });

  it('says no to text, zeros, noise next to zeros, and repeated noise — all of which shrink', () => {
    const half = new Uint8Array(CLUSTER);
    half.set(randomBytes(CLUSTER / 2));
    const block = randomBytes(1024);
    const repeated = new Uint8Array(CLUSTER).map((_, i) => block[i % 1024]);
    for (const [name, cluster] of [
      ['text', pattern('text', CLUSTER, 1)],
      ['zeros', new Uint8Array(CLUSTER)],
      ['half noise', half],
      ['repeated noise', repeated],
    ] as const) {
      expect(looksIncompressible(cluster), name).toBe(false);
      expect(shrinks(cluster), name).toBe(true);
    }
  });
});
