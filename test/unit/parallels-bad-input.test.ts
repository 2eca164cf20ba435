/**
 * Damaged Parallels images: a real qemu-img image with one header field spoiled in a copy. Each
 * refusal is a DiskImgError of the right kind, in qemu-img's words where it has them, naming the field.
 */
import { rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { copy, open, patch, qemuImg, qemuImgError, readAll, scratchDir, readFailure } from '../support/qemu.ts';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';

let dir: string;
let good: string;
const le32 = (v: number) => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255];

beforeAll(() => {
  dir = scratchDir();
  good = join(dir, 'good.hdd');
  qemuImg('create', '-q', '-f', 'parallels', '-o', 'cluster_size=4k', good, '1M');
  execFileSync('qemu-io', ['-f', 'parallels', '-c', 'write -P 3 0 8k', good], { stdio: 'ignore' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const damaged = (patches: Array<[number, number[]]>) => {
  const file = copy(good, join(dir, `bad${n++}.hdd`));
  for (const [at, bytes] of patches) patch(file, at, bytes);
  return file;
};

const cases: Array<{ what: string; patches: Array<[number, number[]]>; kind: DiskImgError['kind']; field: string; qemu?: boolean }> = [
  { what: 'version 3', patches: [[16, le32(3)]], kind: 'invalid-format', field: 'version', qemu: true },
  { what: 'bad magic', patches: [[0, [0x58]]], kind: 'invalid-format', field: 'magic', qemu: true },
  { what: 'zero sectors per cluster', patches: [[28, le32(0)]], kind: 'invalid-format', field: 'tracks', qemu: true },
  { what: 'huge cluster', patches: [[28, le32(0x7fffffff)]], kind: 'limit', field: 'tracks', qemu: true },
  { what: 'huge BAT', patches: [[32, le32(0x7fffffff)]], kind: 'limit', field: 'bat_entries', qemu: true },
  { what: 'nb_sectors past INT64_MAX bytes', patches: [[40, le32(0x746f6e59)]], kind: 'limit', field: 'nb_sectors', qemu: true },
];

describe('damaged Parallels images', () => {
  for (const c of cases) {
    it(c.what, async () => {
      const file = damaged(c.patches);
      const error = await readFailure(file, { format: 'parallels' });
      expect(error.kind).toBe(c.kind);
      expect(error.context.field).toBe(c.field);
      if (c.qemu) expect(qemuImgError('info', '-f', 'parallels', file)).toContain(error.message);
    });
  }

  it('a BAT that goes past the end of a truncated file reads as unallocated (zeros), as qemu-img', async () => {
    const file = copy(good, join(dir, 'short.hdd'));
    truncateSync(file, 70);
    const image = await open(file);
    const bytes = await readAll(image);
    expect(bytes.length).toBe(1 << 20);
    await image.close();
  });

  it('a cluster past the end of the file reads as zeros', async () => {
    const image = await open(damaged([[64, le32(0xffffffff)]]));
    const bytes = await readAll(image);
    expect(bytes.subarray(0, 4096).every((b) => b === 0)).toBe(true);
    await image.close();
  });

  it('a large BAT past a small file allocates nothing', async () => {
    const image = await open(
      damaged([
        [32, le32(0x1fffffff)],
        [36, le32(0xffffffff)],
      ]),
    );
    expect(image.virtualSize).toBe(0xffffffff * 512);
    await image.close();
  });

  /** A copy with a Format Extension cluster appended (4 KiB clusters): `features` after its 24-byte header. */
  function withExtension(features: Buffer, spoil?: (cluster: Buffer) => void): string {
    const file = copy(good, join(dir, `ext${n++}.hdd`));
    const at = statSync(file).size;
    const cluster = Buffer.alloc(4096);
    cluster.writeBigUInt64LE(0xab234cef23dcea87n, 0);
    features.copy(cluster, 24);
    createHash('md5').update(cluster.subarray(24)).digest().copy(cluster, 8);
    spoil?.(cluster);
    patch(file, at, [...cluster]);
    patch(file, 56, le32(at / 512));
    return file;
  }
  const feature = (magic: bigint, flags = 0n, size = 0) => {
    const b = Buffer.alloc(24);
    b.writeBigUInt64LE(magic, 0);
    b.writeBigUInt64LE(flags, 8);
    b.writeUInt32LE(size, 16);
    return b;
  };

  it('a sound Format Extension (no features) opens, as in qemu-img', async () => {
    const file = withExtension(feature(0n));
    const image = await open(file);
    await readAll(image);
    await image.close();
    expect(() => qemuImg('info', file)).not.toThrow();
  });

  const extensionCases: Array<[string, () => string]> = [
    ['wrong Format Extension magic', () => withExtension(feature(0n), (c) => c.writeBigUInt64LE(1n, 0))],
    ['wrong Format Extension checksum', () => withExtension(feature(0n), (c) => (c[8] ^= 1))],
    ['an unknown feature', () => withExtension(feature(0x1234n))],
    ['feature flags', () => withExtension(feature(0n, 1n))],
    ['a feature larger than the cluster', () => withExtension(feature(0x20385fae252cb34an, 0n, 1 << 20))],
  ];
  for (const [what, make] of extensionCases) {
    it(what, async () => {
      const file = make();
      const error = await readFailure(file, { format: 'parallels' });
      expect(error.kind).toBe('corrupt');
      expect(error.context.field).toBe('ext_off');
      expect(qemuImgError('info', file)).toContain(error.message);
    });
  }
});
