/**
 * NTFS made by mkntfs and filled through an ntfs-3g mount (cp -a --sparse=always) with the ext
 * tree (symlinks, a sparse file, small files kept resident, a folder of 3000 files in INDX blocks)
 * plus a compressed folder (LZNT1): read back byte-identical, alone and as qcow2, listed as ntfsls
 * lists it, compressed bytes as ntfscat gives them. Damaged copies each fail with one clear line.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeTree, fsFixtures } from './fs-fixtures.ts';
import { diskimgBytes, readBytes, readTree, sorted, treeFailure, withFs, writeBytes } from './fs-support.ts';

const fx = fsFixtures();
const ntfs = fx.ntfs;
let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'diskimg-fs-ntfs-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const ntfsinfo = (image: string, path: string) =>
  execFileSync('ntfsinfo', ['-F', path, image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
const ntfsls = (image: string, path: string) =>
  execFileSync('ntfsls', ['-p', path, image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    .split('\n')
    .filter((name) => name && name !== '.' && name !== '..')
    .sort();

describe.skipIf(!ntfs)(`NTFS made by mkntfs and ntfs-3g${fx.ntfsUnavailable ? ` (skipped: ${fx.ntfsUnavailable})` : ''}`, () => {
  it('every name, type, size, link target and byte is the folder that went in, raw and as qcow2', async () => {
    // The features this test is about are really there.
    expect(ntfsinfo(ntfs!.image, '/compressed/text.txt')).toMatch(/File attributes:.*COMPRESSED/);
    expect(ntfsinfo(ntfs!.image, '/sparse.bin')).toMatch(/File attributes:.*SPARSE_FILE/);
    expect(ntfsinfo(ntfs!.image, '/many')).toMatch(/\$INDEX_ALLOCATION/);
    const want = sorted(describeTree(fx.trees.ntfs));
    expect(await readTree(ntfs!.image)).toEqual(want);
    expect(await readTree(ntfs!.qcow2)).toEqual(want);
  });

  it('folders list the names ntfsls lists (long names, no DOS aliases, no system files)', async () => {
    for (const path of ['/', '/many', '/compressed']) {
      const ours = await withFs(ntfs!.image, undefined, async (fs) => (await fs.list(await fs.resolve(path))).map((e) => e.name));
      expect(ours.sort()).toEqual(ntfsls(ntfs!.image, path));
    }
  });

  it('alternate data streams are listed with their sizes, as ntfsinfo shows them', async () => {
    const info = ntfsinfo(ntfs!.image, '/hello.txt');
    expect(info).toContain('Zone.Identifier');
    const run = await diskimgBytes('fs', 'ls', '--output=json', ntfs!.image, '/hello.txt');
    // In the record's order: attributes sort by name, case-blind.
    expect(JSON.parse(run.stdout.toString())[0].streams).toEqual([
      { name: 'summary', size: 5000 },
      { name: 'Zone.Identifier', size: 26 },
    ]);
    const long = await diskimgBytes('fs', 'ls', '-l', ntfs!.image, '/hello.txt');
    expect(long.stdout.toString()).toMatch(/ \/hello\.txt {2}\(streams: summary 5000, Zone\.Identifier 26\)\n$/);
  });

  it("file attributes are the ones ntfsinfo reads from $STANDARD_INFORMATION (compressed, sparse, Interix symlinks' SYSTEM)", async () => {
    const paths = ['/compressed/text.txt', '/sparse.bin', '/fast-link', '/hello.txt'];
    const ours: Array<string[] | undefined> = [];
    for (const path of paths) {
      const run = await diskimgBytes('fs', 'ls', '--output=json', ntfs!.image, path);
      ours.push((JSON.parse(run.stdout.toString()) as Array<{ attributes?: string[] }>)[0].attributes);
    }
    const theirs = paths.map((path) =>
      /\$STANDARD_INFORMATION[\s\S]*?File attributes:\s+(.*?) \(0x/.exec(ntfsinfo(ntfs!.image, path))![1].split(' '),
    );
    expect(ours).toEqual(theirs);
    expect(ours[0]).toEqual(['ARCHIVE', 'COMPRESSED']);
    expect(ours[1]).toEqual(['ARCHIVE', 'SPARSE_FILE']);
  });

  it('fs cat of a compressed file gives the bytes ntfscat gives', async () => {
    const theirs = execFileSync('ntfscat', [ntfs!.image, '/compressed/text.txt'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const ours = await diskimgBytes('fs', 'cat', ntfs!.qcow2, '/compressed/text.txt');
    expect(ours.code).toBe(0);
    expect(ours.stdout.equals(theirs)).toBe(true);
  });

  /** Byte offset of an MFT record in a copy (mkntfs writes the MFT's start contiguously). */
  async function recordOffset(image: string, path: string): Promise<number> {
    const bs = readBytes(image, 0, 512);
    const cluster = bs.readUInt16LE(11) * bs[13];
    const number = await withFs(image, undefined, async (fs) => Number((await fs.resolve(path)).ref.id.replace('record ', '')));
    return Number(bs.readBigUInt64LE(48)) * cluster + number * 1024;
  }

  it('a torn MFT record (update sequence not matching) is refused, naming the record', async () => {
    const image = join(scratch, 'torn.img');
    copyFileSync(ntfs!.image, image);
    const at = await recordOffset(image, '/hello.txt');
    writeBytes(image, at + 510, new Uint8Array([0xde, 0xad]));
    const error = await treeFailure(image);
    expect(error.kind).toBe('corrupt');
    expect(error.message).toMatch(/^MFT record \d+ fails its update-sequence check \(a torn write\)$/);
  });

  it('an MFT record without its FILE signature is refused', async () => {
    const image = join(scratch, 'nofile.img');
    copyFileSync(ntfs!.image, image);
    writeBytes(image, await recordOffset(image, '/sub'), Buffer.from('BAAD'));
    const error = await treeFailure(image);
    expect(error.message).toMatch(/^MFT record \d+ has no FILE signature \(found "BAAD"\)$/);
  });

  it('a boot sector claiming more sectors than the disk has is refused', async () => {
    const image = join(scratch, 'big.img');
    copyFileSync(ntfs!.image, image);
    const sectors = Buffer.alloc(8);
    sectors.writeBigUInt64LE(1n << 30n);
    writeBytes(image, 40, sectors);
    const error = await treeFailure(image);
    expect(error.message).toBe(`The NTFS boot sector says the volume has ${2 ** 39} bytes, but its partition has only ${64 * 1024 * 1024}`);
  });
});
