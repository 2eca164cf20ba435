/**
 * exFAT made by mkfs.exfat and filled through exfat-fuse (on a loop device) with the FAT tree: read
 * back byte-identical, alone and as qcow2; damaged copies (the boot region's checksum, an entry
 * set's checksum, a file's clusters past the heap) each fail with one clear line.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeTree, fsFixtures } from './fs-fixtures.ts';
import { diskimgBytes, readBytes, readTree, sorted, treeFailure, writeBytes } from './fs-support.ts';

const fx = fsFixtures();
const exfat = fx.exfat;
let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'diskimg-fs-exfat-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.skipIf(!exfat)(`exFAT made by mkfs.exfat and exfat-fuse${fx.exfatUnavailable ? ` (skipped: ${fx.exfatUnavailable})` : ''}`, () => {
  it('every name, type, size and byte is the folder that went in, raw and as qcow2', async () => {
    const want = sorted(describeTree(fx.trees.fat));
    expect(await readTree(exfat!.image)).toEqual(want);
    expect(await readTree(exfat!.qcow2)).toEqual(want);
  });

  it('names are found case-blind, as Windows finds them; fs cat gives the bytes', async () => {
    const run = await diskimgBytes('fs', 'cat', exfat!.qcow2, '/tiếng việt.TXT');
    expect(run.stderr).toBe('');
    expect(run.stdout.toString()).toBe('xin chào\n');
  });

  it('a damaged boot sector fails the boot region checksum', async () => {
    const image = join(scratch, 'boot.img');
    copyFileSync(exfat!.image, image);
    writeBytes(image, 100, Buffer.from([0x12])); // the volume serial: still a valid boot sector, no longer the summed one
    const error = await treeFailure(image);
    expect(error.kind).toBe('corrupt');
    expect(error.message).toMatch(
      /^The exFAT boot region's checksum is 0x[0-9a-f]+, but its sectors sum to 0x[0-9a-f]+: the boot sector is damaged$/,
    );
  });

  /** Where the root directory's entries lie in a copy. */
  function rootOffset(image: string): number {
    const bs = readBytes(image, 0, 512);
    const sector = 2 ** bs[108];
    const cluster = sector * 2 ** bs[109];
    return bs.readUInt32LE(88) * sector + (bs.readUInt32LE(96) - 2) * cluster;
  }

  it('an entry set whose bytes no longer match its checksum is refused', async () => {
    const image = join(scratch, 'set.img');
    copyFileSync(exfat!.image, image);
    const root = rootOffset(image);
    const dir = readBytes(image, root, 4096);
    let at = 0;
    while (dir[at] !== 0x85) at += 32;
    writeBytes(image, root + at + 32 + 8, Buffer.from([0x77])); // a byte of the stream extension's valid length
    const error = await treeFailure(image);
    expect(error.message).toMatch(
      new RegExp(`^The entry set at byte ${at} of directory / fails its checksum \\(0x[0-9a-f]+ stored, 0x[0-9a-f]+ computed\\)$`),
    );
  });

  it('a file whose first cluster lies past the cluster heap is refused (its entry set re-summed, so only the cluster is wrong)', async () => {
    const image = join(scratch, 'heap.img');
    copyFileSync(exfat!.image, image);
    const root = rootOffset(image);
    const dir = readBytes(image, root, 4096);
    const name = Buffer.from('big.bin', 'utf16le');
    const nameAt = dir.indexOf(name);
    const set = nameAt - 2 - 64; // the file entry, then the stream extension, then this name entry
    expect(dir[set]).toBe(0x85);
    dir.writeUInt32LE(0x7ffffff0, set + 32 + 20);
    let sum = 0;
    for (let i = set; i < set + 32 * (dir[set + 1] + 1); i++)
      if (i !== set + 2 && i !== set + 3) sum = ((sum & 1 ? 0x8000 : 0) + (sum >>> 1) + dir[i]) & 0xffff;
    dir.writeUInt16LE(sum, set + 2);
    writeBytes(image, root, dir);
    const error = await treeFailure(image);
    expect(error.kind).toBe('corrupt');
    expect(error.message).toMatch(
      /^(\/big\.bin occupies clusters 2147483632–\d+, outside the cluster heap \(clusters 2–\d+\)|The cluster chain of \/big\.bin reaches cluster 2147483632, outside clusters 2–\d+)$/,
    );
  });
});
