/**
 * ext2 (block maps on 1 KiB blocks) and ext4 (extents, inline data, an htree folder of 3000 files,
 * metadata_csum, 64-bit, flex_bg) made by mke2fs -d from a folder the test wrote, with fast and
 * slow symlinks and a sparse file: read back byte-identical, listed as debugfs lists them, alone
 * and as GPT and MBR partitions in qcow2. Damage made with debugfs -w each fails with one clear line.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, lstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeTree, fsFixtures, type FsFixtures } from './fs-fixtures.ts';
import { diskimgBytes, readTree, sorted, treeFailure, withFs, writeBytes } from './fs-support.ts';

let fx: FsFixtures;
let scratch: string;
beforeAll(() => {
  fx = fsFixtures();
  scratch = mkdtempSync(join(tmpdir(), 'diskimg-fs-ext-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const debugfs = (image: string, request: string) =>
  execFileSync('debugfs', ['-R', request, image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
const debugfsWrite = (image: string, request: string) => execFileSync('debugfs', ['-w', '-R', request, image], { stdio: 'ignore' });

/** debugfs `ls -p`: /inode/mode/uid/gid/name/size/ per entry, ".", ".." and unused entries left out. */
function debugfsList(image: string, path: string): Array<{ name: string; mode: number; size: number | null }> {
  return (
    debugfs(image, `ls -p ${path}`)
      .split('\n')
      .filter((line) => line.startsWith('/'))
      .map((line) => {
        const [, inode, mode, , , name, size] = line.split('/');
        return { inode, name, mode: parseInt(mode, 8), size: size === '' ? null : Number(size) };
      })
      // Inode 0: the empty entries that hold an htree's index blocks.
      .filter((e) => e.name !== '.' && e.name !== '..' && e.inode !== '0')
      .map(({ name, mode, size }) => ({ name, mode, size }))
      .sort((a, b) => (a.name < b.name ? -1 : 1))
  );
}

function copy(from: string, name: string): string {
  const to = join(scratch, name);
  copyFileSync(from, to);
  return to;
}

describe('ext file systems made by mke2fs -d', () => {
  it('ext2 on 1 KiB blocks (block maps, a double-indirect 3 MiB file): every name, type, size, link target and byte is the folder that went in', async () => {
    expect(await readTree(fx.images.ext2)).toEqual(sorted(describeTree(fx.trees.ext)));
  });

  it('ext4 with extents, inline data, an htree folder and metadata_csum: every name, type, size, link target and byte is the folder that went in', async () => {
    // The features this test is about are really there.
    expect(debugfs(fx.images.ext4, 'stat /tiny-inline.txt')).toMatch(/Flags: 0x10000000/);
    expect(debugfs(fx.images.ext4, 'stat /medium-inline.txt')).toMatch(/Size of inline data: 100/);
    expect(debugfs(fx.images.ext4, 'htree /many')).toMatch(/Indirect levels: 1/);
    expect(debugfs(fx.images.ext4, 'stat /fast-link')).toMatch(/Fast link dest: "hello.txt"/);
    expect(debugfs(fx.images.ext4, 'stat /slow-link')).toMatch(/EXTENTS/);
    const tree = await readTree(fx.images.ext4);
    expect(tree).toEqual(sorted(describeTree(fx.trees.ext)));
    expect(tree.filter((e) => e.path.startsWith('/many/'))).toHaveLength(3000);
  });

  it('folders list the names, modes and sizes debugfs lists', async () => {
    for (const image of [fx.images.ext2, fx.images.ext4]) {
      for (const path of ['/', '/many', '/sub/deeper']) {
        const ours = await withFs(image, undefined, async (fs) =>
          (await fs.list(await fs.resolve(path))).map((e) => ({
            name: e.name,
            mode: (e.mode ?? 0) | { file: 0o100000, dir: 0o40000, symlink: 0o120000 }[e.type as 'file'],
            size: e.type === 'dir' ? null : e.size,
          })),
        );
        const theirs = debugfsList(image, path).map((e) => ({ ...e, size: e.mode >> 12 === 4 ? null : e.size }));
        expect(ours.sort((a, b) => (a.name < b.name ? -1 : 1))).toEqual(theirs);
      }
    }
  });

  it('modification times and permissions are the ones of the folder that went in', async () => {
    const entry = await withFs(fx.images.ext4, undefined, (fs) => fs.resolve('/sub/deeper/data.bin'));
    const host = lstatSync(join(fx.trees.ext, 'sub', 'deeper', 'data.bin'));
    expect(entry.mtime).toBe(new Date(Math.floor(host.mtimeMs / 1000) * 1000).toISOString().replace('.000Z', 'Z'));
    expect(entry.mode).toBe(host.mode & 0o7777);
  });

  it('a range across a hole of the sparse file reads zeros then the data, as the original', async () => {
    const original = readFileSync(join(fx.trees.ext, 'sparse.bin'));
    const got = await withFs(fx.images.ext4, undefined, async (fs) => {
      const parts: Uint8Array[] = [];
      for await (const chunk of fs.read(await fs.resolve('/sparse.bin'), { start: 3 * 1024 * 1024 + 7, length: 2 * 1024 * 1024 }))
        parts.push(chunk);
      return Buffer.concat(parts);
    });
    expect(got.equals(original.subarray(3 * 1024 * 1024 + 7, 5 * 1024 * 1024 + 7))).toBe(true);
  });

  it('ext4 as GPT partition 2 and ext2 as MBR partition 1, both in qcow2, read the same', async () => {
    const want = sorted(describeTree(fx.trees.ext));
    expect(await readTree(fx.gptQcow2, 2)).toEqual(want);
    expect(await readTree(fx.mbrQcow2, 1)).toEqual(want);
  });
});

describe('damaged ext file systems', () => {
  it('a superblock whose bytes no longer match its checksum is refused', async () => {
    const image = copy(fx.images.ext4, 'sb-csum.img');
    writeBytes(image, 1024 + 120, Buffer.from('X')); // the first byte of the label
    const error = await treeFailure(image);
    expect(error.kind).toBe('corrupt');
    expect(error.message).toMatch(
      /^The ext superblock's checksum is 0x[0-9a-f]+, but its bytes sum to 0x[0-9a-f]+: the superblock is damaged$/,
    );
  });

  it('a superblock with no inodes per group is refused, naming the field', async () => {
    const image = copy(fx.images.ext2, 'sb-ipg.img');
    writeBytes(image, 1024 + 40, new Uint8Array(4));
    const error = await treeFailure(image);
    expect(error.message).toBe("The ext superblock's inodes per group (0) is not within 1–8192");
  });

  it('an extent beyond the end of the disk is refused with its blocks', async () => {
    const image = copy(fx.images.ext4, 'extent.img');
    debugfsWrite(image, 'set_inode_field /big.bin block[5] 0x7fffffff');
    const error = await treeFailure(image);
    expect(error.kind).toBe('corrupt');
    expect(error.message).toMatch(
      /^An extent of inode \d+ covers blocks 2147483647–\d+, beyond the end of the file system \(65536 blocks\)$/,
    );
    const ls = await diskimgBytes('fs', 'ls', '-R', image);
    expect(ls.code).toBe(0); // listing needs no data blocks
    const cat = await diskimgBytes('fs', 'extract', image, '/', join(scratch, 'extent-out'));
    expect(cat.code).toBe(1);
    expect(cat.stderr).toBe(`diskimg: ${image}: ${error.message}\n`);
  });

  it('a block map pointing past the end of the disk is refused', async () => {
    const image = copy(fx.images.ext2, 'blockmap.img');
    debugfsWrite(image, 'set_inode_field /hello.txt block[0] 99999999');
    const error = await treeFailure(image);
    expect(error.message).toMatch(/^Block 0 of inode \d+ is mapped to block 99999999, beyond the end of the file system \(32768 blocks\)$/);
  });

  it('a folder linked into its own subfolder is a directory loop', async () => {
    const image = copy(fx.images.ext4, 'loop.img');
    debugfsWrite(image, 'link /sub /sub/deeper/loop');
    const error = await treeFailure(image);
    expect(error.message).toMatch(/^Directory loop: \/sub\/deeper\/loop is one of its own parent directories \(inode \d+\)$/);
  });

  it('an inode whose checksum does not match is refused', async () => {
    const image = copy(fx.images.ext4, 'inode-csum.img');
    debugfsWrite(image, 'set_inode_field /hello.txt checksum 0x1234');
    const error = await treeFailure(image);
    expect(error.message).toMatch(/^Inode \d+ has checksum 0x1234, but its bytes sum to 0x[0-9a-f]+: the inode is damaged$/);
  });

  it('a journal that needs recovery is read as it stands, with a warning', async () => {
    const image = copy(fx.images.ext4, 'recover.img');
    debugfsWrite(image, 'feature needs_recovery');
    const run = await diskimgBytes('fs', 'cat', image, '/hello.txt');
    expect(run.code).toBe(0);
    expect(run.stdout.toString()).toBe('hello, world\n');
    expect(run.stderr).toBe(
      `diskimg: warning: ${image}: The journal needs recovery (the file system was not cleanly unmounted): it is read as it stands, without replaying the journal, so recent changes may be missing\n`,
    );
  });
});
