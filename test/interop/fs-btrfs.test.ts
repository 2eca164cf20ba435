/**
 * Btrfs made by mkfs.btrfs --rootdir from the ext tree (inline and regular extents, holes, an
 * indexed folder of 3000 names, symlinks): read back byte-identical, raw and as qcow2, and equal
 * to what `btrfs restore` copies out. Damaged copies each fail with one clear line.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BTRFS_METHODS, compressedBtrfs } from './fs-btrfs-compressed-fixtures.ts';
import { describeTree, fsFixtures, type FsFixtures } from './fs-fixtures.ts';
import { readTree, sorted, treeFailure, writeBytes } from './fs-support.ts';

let fx: FsFixtures;
let scratch: string;
beforeAll(() => {
  fx = fsFixtures();
  scratch = mkdtempSync(join(tmpdir(), 'diskimg-fs-btrfs-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('Btrfs made by mkfs.btrfs --rootdir', () => {
  it('every name, type, size, link target and byte is the folder that went in, raw and as qcow2', async () => {
    const want = sorted(describeTree(fx.trees.ext));
    expect(await readTree(fx.btrfs.image)).toEqual(want);
    expect(await readTree(fx.btrfs.qcow2)).toEqual(want);
  });

  it('equals what btrfs restore copies out', async () => {
    const restored = join(scratch, 'restored');
    mkdirSync(restored);
    execFileSync('btrfs', ['restore', '-S', fx.btrfs.image, restored], { stdio: 'ignore' });
    expect(await readTree(fx.btrfs.image)).toEqual(sorted(describeTree(restored)));
  });

  it('a superblock whose bytes no longer match its checksum is refused', async () => {
    const image = join(scratch, 'sb.img');
    copyFileSync(fx.btrfs.image, image);
    writeBytes(image, 0x10000 + 0x12b, Buffer.from('X')); // the first byte of the label
    const error = await treeFailure(image);
    expect(error.message).toBe("The Btrfs superblock's checksum does not match its bytes: the superblock is damaged");
  });

  it('a root tree block that fails its checksum is refused, naming its address', async () => {
    const image = join(scratch, 'node.img');
    copyFileSync(fx.btrfs.image, image);
    const root = /^root\s+(\d+)$/m.exec(execFileSync('btrfs', ['inspect-internal', 'dump-super', image], { encoding: 'utf8' }))![1];
    const physical = /mirror 1 logical \d+ physical (\d+)/.exec(
      execFileSync('btrfs-map-logical', ['-l', root, image], { encoding: 'utf8' }),
    )![1];
    writeBytes(image, Number(physical) + 200, Buffer.from([0xff, 0xee]));
    const error = await treeFailure(image);
    expect(error.kind).toBe('corrupt');
    expect(error.message).toBe(`The tree block at ${root} (the root tree) fails its checksum`);
  });
});

describe("Btrfs with zlib, lzo and zstd extents (btrfs-progs' own test image)", () => {
  let image: string;
  beforeAll(() => {
    image = join(scratch, 'compress.raw');
    execFileSync('sh', ['-c', `xz -dc "$0" > "$1"`, join(import.meta.dirname, '../fixtures/btrfs-progs/compress.raw.xz'), image]);
  });

  /** Where a logical address lies in the image, as btrfs-map-logical says. */
  const physical = (logical: number) =>
    Number(
      /mirror 1 logical \d+ physical (\d+)/.exec(
        execFileSync('btrfs-map-logical', ['-l', String(logical), image], { encoding: 'utf8' }),
      )![1],
    );

  it('each file decompresses to what btrfs restore copies out: 200 KiB of zeros in two extents', async () => {
    const restored = join(scratch, 'restored-compressed');
    mkdirSync(restored);
    execFileSync('btrfs', ['restore', image, restored], { stdio: 'ignore' });
    const want = sorted(describeTree(restored));
    expect(want.map((e) => [e.path, e.size])).toEqual([
      ['/lzo', 204800],
      ['/zlib', 204800],
      ['/zstd', 204800],
    ]);
    expect(await readTree(image)).toEqual(want);
  });

  it('a damaged zlib extent is refused, naming the file and the method', async () => {
    const copy = join(scratch, 'bad-zlib.raw');
    copyFileSync(image, copy);
    writeBytes(copy, physical(12582912) + 2, Buffer.from([0xff, 0xff, 0xff, 0xff]));
    const error = await treeFailure(copy);
    expect(error.kind).toBe('corrupt');
    expect(error.message).toMatch(/^A zlib-compressed extent of \/zlib does not decompress: the zlib stream is damaged$/);
  });

  it('a damaged lzo extent is refused with where the stream goes wrong', async () => {
    const copy = join(scratch, 'bad-lzo.raw');
    copyFileSync(image, copy);
    // Past the two length headers: the first instruction of the first segment.
    writeBytes(copy, physical(12591104) + 8, Buffer.from([0x10, 0x00, 0x00, 0x00]));
    const error = await treeFailure(copy);
    expect(error.kind).toBe('corrupt');
    expect(error.message).toMatch(/^An? lzo-compressed extent of \/lzo does not decompress: .+ \(input byte \d+, output byte \d+\)$/);
  });

  it('a damaged zstd extent is refused', async () => {
    const copy = join(scratch, 'bad-zstd.raw');
    copyFileSync(image, copy);
    // btrfs-map-logical stops at this extent; it lies in the same data chunk as the zlib one.
    writeBytes(copy, physical(12582912) + (12599296 - 12582912), Buffer.from([0, 0, 0, 0]));
    const error = await treeFailure(copy);
    expect(error.message).toBe('A zstd-compressed extent of /zstd does not decompress: it does not begin with a zstd frame');
  });
});

const kernelMade = compressedBtrfs();

describe.skipIf('unavailable' in kernelMade)(
  `Btrfs whose files the kernel compressed with zlib, lzo and zstd${'unavailable' in kernelMade ? ` (skipped: ${kernelMade.unavailable})` : ''}`,
  () => {
    const fx = kernelMade as Exclude<typeof kernelMade, { unavailable: string }>;
    const dump = () => execFileSync('btrfs', ['inspect-internal', 'dump-tree', '-t', 'fs', fx.image], { encoding: 'utf8' });

    it('every name, size and byte is the tree that went in, raw and as qcow2', async () => {
      // The features this test is about are really there: regular and inline extents of each method.
      const listing = dump();
      for (const [n, method] of BTRFS_METHODS.entries()) {
        expect(listing).toMatch(new RegExp(`extent compression ${n + 1} \\(${method}\\)`));
        expect(listing).toMatch(new RegExp(`inline extent data size \\d+ ram_bytes \\d+ compression ${n + 1} \\(${method}\\)`));
      }
      const want = sorted(describeTree(fx.tree));
      expect(await readTree(fx.image)).toEqual(want);
      expect(await readTree(fx.qcow2)).toEqual(want);
    });

    it('equals what btrfs restore copies out', async () => {
      const restored = join(scratch, 'restored-kernel');
      mkdirSync(restored);
      execFileSync('btrfs', ['restore', fx.image, restored], { stdio: 'ignore' });
      expect(await readTree(fx.image)).toEqual(sorted(describeTree(restored)));
    });

    it('a zstd extent followed by something other than padding is refused, naming where', async () => {
      const listing = dump();
      // The first regular zstd extent: its disk address and length on disk.
      const zstd = [...listing.matchAll(/extent data disk byte (\d+) nr (\d+)\n.*\n\s+extent compression 3/g)][0];
      const [logical, length] = [Number(zstd[1]), Number(zstd[2])];
      const physical = Number(
        /mirror 1 logical \d+ physical (\d+)/.exec(
          execFileSync('btrfs-map-logical', ['-l', String(logical), fx.image], { encoding: 'utf8' }),
        )![1],
      );
      const copy = join(scratch, 'zstd-trailer.img');
      copyFileSync(fx.image, copy);
      writeBytes(copy, physical + length - 1, Buffer.from([0x77]));
      const error = await treeFailure(copy);
      expect(error.kind).toBe('corrupt');
      expect(error.message).toMatch(
        /^A zstd-compressed extent of \/zstd\/\S+ does not decompress: bytes follow the zstd frames at byte \d+$/,
      );
    });
  },
);
