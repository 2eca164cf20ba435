/**
 * diskimg fs ls / cat / extract: the JSON shape, partitions as the table numbers them, the error
 * that lists the partitions when the choice is not clear, and extracted files, trees and zips
 * compared with the folder that went in (the zip through 7-Zip, a second reader).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeTree, fsFixtures, type FsFixtures } from './fs-fixtures.ts';
import { diskimgBytes } from './fs-support.ts';

let fx: FsFixtures;
let scratch: string;
beforeAll(() => {
  fx = fsFixtures();
  scratch = mkdtempSync(join(tmpdir(), 'diskimg-fs-cli-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const withoutLostFound = <T extends { path: string }>(entries: T[]) => entries.filter((e) => !e.path.startsWith('/lost+found'));

describe('diskimg fs', () => {
  it('ls -R --output=json on GPT partition 2 (ext4 in qcow2): every path, type, size and target of the folder that went in, with mode and mtime', async () => {
    const run = await diskimgBytes('fs', 'ls', '-R', '--partition', '2', '--output=json', fx.gptQcow2);
    expect(run.stderr).toBe('');
    const listed = withoutLostFound(
      JSON.parse(run.stdout.toString()) as Array<{
        path: string;
        type: string;
        size: number;
        target?: string;
        mode?: number;
        mtime?: string;
      }>,
    );
    const want = describeTree(fx.trees.ext).map(({ sha256: _, ...e }) => e);
    expect(listed.map(({ mode: _m, mtime: _t, ...e }) => e).sort((a, b) => (a.path < b.path ? -1 : 1))).toEqual(want);
    const hello = listed.find((e) => e.path === '/hello.txt')!;
    expect(Object.keys(hello)).toEqual(['path', 'type', 'size', 'mode', 'mtime']);
    expect(hello.mode).toBe(0o644);
    expect(hello.mtime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('ls -l of a folder of logical partition 5 (FAT16 in an MBR qcow2)', async () => {
    const run = await diskimgBytes('fs', 'ls', '-l', '--partition', '5', fx.mbrQcow2, '/sub');
    expect(run.code).toBe(0);
    expect(run.stdout.toString()).toMatch(/^drwxr-xr-x {3}1 {5}0 {5}0 {12}0 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \/sub\/deeper\n$/);
  });

  it('a whole-disk file system needs no --partition; ls of a symlink shows its target', async () => {
    const run = await diskimgBytes('fs', 'ls', fx.images.ext4, '/fast-link');
    expect(run.stdout.toString()).toBe('/fast-link -> hello.txt\n');
  });

  it('without --partition on a disk with two file systems: one line naming them', async () => {
    const run = await diskimgBytes('fs', 'ls', fx.gptQcow2);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `diskimg: ${fx.gptQcow2}: The disk has 2 file systems: choose a partition (--partition N): 1 (vfat "FAT32", 67108864 bytes); 2 (ext4 "ext4-tree", 67108864 bytes)\n`,
    );
  });

  it('a partition the table does not have, and the extended container, are refused with the list', async () => {
    const list = '1 (ext2 "ext2-tree", 33554432 bytes); 5 (vfat "FAT16", 33554432 bytes)';
    const missing = await diskimgBytes('fs', 'ls', '--partition', '3', fx.mbrQcow2);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`diskimg: ${fx.mbrQcow2}: There is no partition 3; partitions: ${list}\n`);
    const extended = await diskimgBytes('fs', 'ls', '--partition', '2', fx.mbrQcow2);
    expect(extended.stderr).toBe(
      `diskimg: ${fx.mbrQcow2}: Partition 2 is an extended partition (a container of logical partitions, numbered from 5): it holds no file system; partitions: ${list}\n`,
    );
  });

  it('a path that is not there', async () => {
    const run = await diskimgBytes('fs', 'cat', fx.images.fat16, '/nope/x');
    expect(run.stderr).toBe(`diskimg: ${fx.images.fat16}: No such file or directory in the file system: /nope/x\n`);
  });

  it("cat writes a file's bytes, and refuses a folder", async () => {
    const run = await diskimgBytes('fs', 'cat', '--partition', '1', fx.gptQcow2, '/sub/deeper/data.bin');
    expect(run.code).toBe(0);
    expect(run.stdout.equals(readFileSync(join(fx.trees.fat, 'sub', 'deeper', 'data.bin')))).toBe(true);
    const dir = await diskimgBytes('fs', 'cat', fx.images.ext2, '/sub');
    expect(dir.stderr).toBe(`diskimg: ${fx.images.ext2}: /sub is a directory\n`);
  });

  it('extract: a file, a folder as a tree (links kept), and a folder as a zip that 7-Zip unpacks to the same bytes', async () => {
    const file = join(scratch, 'big.bin');
    expect((await diskimgBytes('fs', 'extract', fx.images.ext4, '/big.bin', file)).code).toBe(0);
    expect(readFileSync(file).equals(readFileSync(join(fx.trees.ext, 'big.bin')))).toBe(true);

    const tree = join(scratch, 'tree');
    const run = await diskimgBytes('fs', 'extract', fx.images.ext4, '/', tree);
    expect(run.stderr).toBe('');
    expect(withoutLostFound(describeTree(tree))).toEqual(describeTree(fx.trees.ext));
    expect(readlinkSync(join(tree, 'slow-link'))).toBe(readlinkSync(join(fx.trees.ext, 'slow-link')));

    const zip = join(scratch, 'sub.zip');
    expect((await diskimgBytes('fs', 'extract', '--partition', '5', fx.mbrQcow2, '/sub', zip)).code).toBe(0);
    const unzipped = join(scratch, 'unzipped');
    execFileSync('7z', ['x', `-o${unzipped}`, zip], { stdio: 'ignore' });
    expect(describeTree(join(unzipped, 'sub'))).toEqual(describeTree(join(fx.trees.fat, 'sub')));
  });

  it('--partition must be a number', async () => {
    const run = await diskimgBytes('fs', 'ls', '--partition', 'x', fx.gptQcow2);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      "--partition must be a partition number as the partition table numbers them (1, 2, …; logical MBR partitions from 5), not 'x'",
    );
  });
});
