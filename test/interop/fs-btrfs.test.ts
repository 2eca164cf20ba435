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
