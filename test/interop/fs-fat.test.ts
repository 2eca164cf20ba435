/**
 * FAT12/16/32 made by mkfs.vfat and filled by mtools' mcopy from a folder the test wrote: the tree
 * read back (names, long names, sizes, every byte) must be the folder that went in, and list as
 * mdir and 7-Zip list it — alone, and as partitions of GPT and MBR disks in qcow2. Damaged copies
 * (a boot sector, a cluster chain loop, a directory loop) each fail with one clear error.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeTree, fsFixtures, type FsFixtures } from './fs-fixtures.ts';
import { diskimgBytes, readBytes, readTree, sorted, treeFailure, withFs, writeBytes } from './fs-support.ts';

let fx: FsFixtures;
let scratch: string;
beforeAll(() => {
  fx = fsFixtures();
  scratch = mkdtempSync(join(tmpdir(), 'diskimg-fs-fat-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const mdirPaths = (image: string) =>
  execFileSync('mdir', ['-i', image, '-/', '-b', '::'], { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } })
    .split('\n')
    .filter(Boolean)
    .map((line) => line.replace(/^::/, '').replace(/\/$/, ''))
    .sort();

describe('FAT file systems made by mkfs.vfat and mcopy', () => {
  for (const bits of [12, 16, 32] as const) {
    it(`FAT${bits}: every name, type, size and byte is the folder that went in, and mdir lists the same paths`, async () => {
      const image = fx.images[`fat${bits}`];
      const tree = await readTree(image);
      expect(tree).toEqual(sorted(describeTree(fx.trees.fat)));
      expect(tree.map((e) => e.path).sort()).toEqual(mdirPaths(image));
      expect(tree.find((e) => e.path === '/A Long File Name With Spaces.text')).toBeDefined();
      expect(tree.filter((e) => e.path.startsWith('/many/'))).toHaveLength(300);
    });
  }

  it('7-Zip lists the same paths in FAT16', async () => {
    const listing = execFileSync('7z', ['l', '-slt', fx.images.fat16], { encoding: 'utf8' });
    const paths = [...listing.matchAll(/^Path = (.*)$/gm)].map((m) => `/${m[1]}`).filter((p) => p !== `/${fx.images.fat16}`);
    const ours = (await readTree(fx.images.fat16)).map((e) => e.path);
    expect(paths.sort()).toEqual(ours.sort());
  });

  it('FAT32 as GPT partition 1 and FAT16 as logical partition 5 of an MBR disk, both in qcow2, read the same', async () => {
    const want = sorted(describeTree(fx.trees.fat));
    expect(await readTree(fx.gptQcow2, 1)).toEqual(want);
    expect(await readTree(fx.mbrQcow2, 5)).toEqual(want);
  });

  it('a byte range of a file spanning many clusters reads as the same range of the original', async () => {
    const original = readFileSync(join(fx.trees.fat, 'big.bin'));
    const got = await withFs(fx.images.fat32, undefined, async (fs) => {
      const parts: Uint8Array[] = [];
      for await (const chunk of fs.read(await fs.resolve('/BIG.BIN'), { start: 1_000_001, length: 2_100_000 })) parts.push(chunk);
      return Buffer.concat(parts);
    });
    expect(got.equals(original.subarray(1_000_001, 3_100_001))).toBe(true);
  });
});

/** FAT32 layout numbers of a copy, from its boot sector. */
function layout(image: string) {
  const bs = readBytes(image, 0, 512);
  const sector = bs.readUInt16LE(11);
  const cluster = bs[13] * sector;
  const fatStart = bs.readUInt16LE(14) * sector;
  const dataStart = fatStart + bs[16] * bs.readUInt32LE(36) * sector;
  return { cluster, fatStart, dataStart };
}

const clusterOf = async (image: string, path: string) =>
  withFs(image, undefined, async (fs) => Number((await fs.resolve(path)).ref.id.replace('cluster ', '')));

describe('damaged FAT file systems', () => {
  it('a boot sector with 3 sectors per cluster is not a FAT file system', async () => {
    const image = join(scratch, 'bad-boot.img');
    copyFileSync(fx.images.fat16, image);
    writeBytes(image, 13, new Uint8Array([3]));
    const error = await treeFailure(image);
    expect(error.message).toBe('No file system was found on the disk (its MBR partition table is empty)');
  });

  it('a boot sector claiming more sectors than the disk has is refused, with both sizes', async () => {
    const image = join(scratch, 'too-big.img');
    copyFileSync(fx.images.fat32, image);
    const sectors = Buffer.alloc(4);
    sectors.writeUInt32LE(0x40000);
    writeBytes(image, 32, sectors);
    const error = await treeFailure(image);
    expect(error.kind).toBe('corrupt');
    expect(error.message).toBe(
      `The FAT boot sector says the file system has ${0x40000 * 512} bytes, but its partition has only ${64 * 1024 * 1024}`,
    );
  });

  it('a cluster chain that loops back is refused, naming the file and the cluster', async () => {
    const image = join(scratch, 'chain-loop.img');
    copyFileSync(fx.images.fat32, image);
    const { fatStart } = layout(image);
    const first = await clusterOf(image, '/big.bin');
    // The third cluster of big.bin points back to its first (mcopy writes the file contiguously).
    const entry = Buffer.alloc(4);
    entry.writeUInt32LE(first);
    writeBytes(image, fatStart + (first + 2) * 4, entry);
    const error = await treeFailure(image);
    expect(error.kind).toBe('corrupt');
    // Found by Brent's check: some cluster inside the loop (first … first + 2).
    const looped = Number(/^The cluster chain of \/big\.bin loops back to cluster (\d+)$/.exec(error.message)?.[1]);
    expect(looped).toBeGreaterThanOrEqual(first);
    expect(looped).toBeLessThanOrEqual(first + 2);
    // The CLI says it in one line, naming the image, and fails.
    const cat = await diskimgBytes('fs', 'cat', image, '/big.bin');
    expect(cat.code).toBe(1);
    expect(cat.stderr).toBe(`diskimg: ${image}: ${error.message}\n`);
  });

  it('a folder whose entry points back to its parent is a directory loop', async () => {
    const image = join(scratch, 'dir-loop.img');
    copyFileSync(fx.images.fat32, image);
    const { cluster, dataStart } = layout(image);
    const sub = await clusterOf(image, '/sub');
    const dir = readBytes(image, dataStart + (sub - 2) * cluster, cluster);
    const at = dir.indexOf(Buffer.from('DEEPER     ', 'latin1'));
    expect(at).toBeGreaterThan(0);
    const patch = Buffer.alloc(2);
    patch.writeUInt16LE(sub >>> 16);
    writeBytes(image, dataStart + (sub - 2) * cluster + at + 20, patch);
    patch.writeUInt16LE(sub & 0xffff);
    writeBytes(image, dataStart + (sub - 2) * cluster + at + 26, patch);
    const error = await treeFailure(image);
    expect(error.kind).toBe('corrupt');
    expect(error.message).toBe(`Directory loop: /sub/deeper is one of its own parent directories (cluster ${sub})`);
  });

  it('a file whose chain reaches a free cluster is refused', async () => {
    const image = join(scratch, 'free.img');
    copyFileSync(fx.images.fat32, image);
    const { fatStart } = layout(image);
    const first = await clusterOf(image, '/big.bin');
    writeBytes(image, fatStart + first * 4, new Uint8Array(4));
    const error = await treeFailure(image);
    expect(error.message).toBe(`The cluster chain of /big.bin reaches a free cluster after cluster ${first}`);
  });
});
