/**
 * XFS v5 made by mkfs.xfs from a protofile of the ext tree (short-form, block and node folders —
 * /many holds 3000 names in a B+tree fork — extent lists, inline symlinks): read back byte-identical,
 * raw and as qcow2, listed as xfs_db lists it. Damaged copies each fail with one clear line.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeTree, fsFixtures, XFS_LEFT_OUT, type FsFixtures } from './fs-fixtures.ts';
import { readTree, sorted, treeFailure, withFs, writeBytes } from './fs-support.ts';

let fx: FsFixtures;
let scratch: string;
beforeAll(() => {
  fx = fsFixtures();
  scratch = mkdtempSync(join(tmpdir(), 'diskimg-fs-xfs-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** What the protofile could carry: the ext tree but for the entries it leaves out. */
const expected = () => sorted(describeTree(fx.trees.ext).filter((e) => !XFS_LEFT_OUT(e)));

/** xfs_db's `ls`: the names of a folder, "." and ".." left out. */
function xfsDbNames(image: string, path: string): string[] {
  return execFileSync('xfs_db', ['-r', '-c', `ls ${path}`, image], { encoding: 'utf8' })
    .split('\n')
    .map((line) => /^\d+\s+\d+\s+\S+\s+0x[0-9a-f]+\s+\d+ (.*) \(good\)$/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined && name !== '.' && name !== '..')
    .sort();
}

describe('XFS made by mkfs.xfs -p', () => {
  it('every name, type, size, link target and byte is the tree that went in, raw and as qcow2', async () => {
    const want = expected();
    expect(await readTree(fx.xfs.image)).toEqual(want);
    expect(await readTree(fx.xfs.qcow2)).toEqual(want);
    expect(want.filter((e) => e.path.startsWith('/many/'))).toHaveLength(3000);
  });

  it('folders list the names xfs_db lists', async () => {
    for (const path of ['/', '/many', '/sub/deeper']) {
      const ours = await withFs(fx.xfs.image, undefined, async (fs) => (await fs.list(await fs.resolve(path))).map((e) => e.name));
      expect(ours.sort()).toEqual(xfsDbNames(fx.xfs.image, path));
    }
  });

  it('a superblock whose bytes no longer match its checksum is refused', async () => {
    const image = join(scratch, 'sb.img');
    copyFileSync(fx.xfs.image, image);
    writeBytes(image, 108, Buffer.from('X')); // the first byte of the label
    const error = await treeFailure(image);
    expect(error.message).toBe("The XFS superblock's checksum does not match its bytes: the superblock is damaged");
  });

  it('an inode whose checksum does not match is refused', async () => {
    const image = join(scratch, 'inode.img');
    copyFileSync(fx.xfs.image, image);
    execFileSync('xfs_db', ['-x', '-c', 'path /hello.txt', '-c', 'write -c core.mode 0100600', image], { stdio: 'ignore' });
    const error = await treeFailure(image);
    expect(error.message).toMatch(/^Inode \d+ fails its checksum: the inode is damaged$/);
  });
});
