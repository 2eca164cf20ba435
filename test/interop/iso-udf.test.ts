/**
 * The UDF reader against 7-Zip and udfinfo on discs genisoimage and mkudffs made: listings, file
 * bytes, revisions, labels and block sizes; damaged copies give clear errors quickly.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { Disc, type OpenDiscOptions } from '../../src/core/iso/disc.ts';
import { discInfo } from '../../src/core/iso/info.ts';
import { discLayout, withGaps } from '../../src/core/iso/layout.ts';
import type { DiscEntry } from '../../src/core/iso/types.ts';
import { NodeFileStorage } from '../../src/node/file-storage.ts';
import {
  MKUDFFS_REVISIONS,
  patchFile,
  PYCDLIB_FILES,
  PYCDLIB_LINKS,
  UDF_VIETNAMESE,
  udfFixtures,
  type UdfFixtures,
} from './iso-udf-fixtures.ts';
import { diskimg } from './support.ts';
import { walk, bytesOf } from '../support/disc.ts';

let f: UdfFixtures;
let scratch: string;
const opened: Disc[] = [];

beforeAll(() => {
  f = udfFixtures();
  scratch = mkdtempSync(join(tmpdir(), 'diskimg-udf-test-'));
}, 120_000);
afterAll(async () => {
  for (const disc of opened) await disc.storage.close?.();
  rmSync(scratch, { recursive: true, force: true });
});

async function open(file: string, options?: OpenDiscOptions): Promise<Disc> {
  const storage = await NodeFileStorage.open(file);
  try {
    const disc = await Disc.open(storage, options);
    opened.push(disc);
    return disc;
  } catch (error) {
    await storage.close();
    throw error;
  }
}

/** 7-Zip's listing (it reads UDF first on a bridge disc): path → type and size. */
function sevenZip(file: string): { version?: string; entries: Map<string, { type: string; size: number }> } {
  const out = execFileSync('7z', ['l', '-slt', file], { encoding: 'utf8' });
  const [head, ...blocks] = out.split(/\n----------\n/);
  const entries = new Map<string, { type: string; size: number }>();
  for (const block of (blocks.join('\n') || '').split('\n\n')) {
    const path = /^Path = (.*)$/m.exec(block)?.[1];
    const folder = /^Folder = (.*)$/m.exec(block)?.[1];
    if (path === undefined || folder === undefined) continue;
    entries.set(`/${path}`, {
      type: folder === '+' ? 'dir' : 'file',
      size: folder === '+' ? 0 : Number(/^Size = (\d+)$/m.exec(block)?.[1]),
    });
  }
  return { version: /^Version = (.*)$/m.exec(head)?.[1], entries };
}

const listing = (entries: DiscEntry[]) => new Map(entries.map((e) => [e.path, { type: e.type, size: e.type === 'dir' ? 0 : e.size }]));

function udfinfo(file: string): Record<string, string> {
  const out = execFileSync('udfinfo', [file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return Object.fromEntries(
    out
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

describe('UDF bridge and UDF-only discs', () => {
  it('a genisoimage -udf bridge disc: Rock Ridge names by default, its UDF tree equals 7-Zip’s, bytes equal the source', async () => {
    const disc = await open(f.bridge);
    const info = discInfo(disc);
    expect(info.udf).toBe('1.02');
    expect(info.names).toBe('rock-ridge');
    expect(info['available-names']).toEqual(['rock-ridge', 'udf', 'joliet', 'iso9660']);
    expect(info['udf-volume']?.['logical-volume-id']).toBe('UDF_BRIDGE');
    const udf = await open(f.bridge, { names: 'udf' });
    expect(udf.tree.kind).toBe('udf');
    const entries = await walk(udf);
    const seven = sevenZip(f.bridge);
    expect(seven.version).toBe('1.02');
    expect(listing(entries)).toEqual(seven.entries);
    expect(entries.filter((e) => e.path.startsWith('/many/'))).toHaveLength(300);
    // genisoimage writes no UDF symlinks: the link is an empty file there, a symlink in Rock Ridge.
    expect(listing(entries).get('/link')).toEqual({ type: 'file', size: 0 });
    expect((await disc.resolve('/link')).target).toBe('a/b');
    for (const entry of entries.filter((e) => e.type === 'file' && e.path !== '/link')) {
      expect((await bytesOf(udf, entry)).equals(readFileSync(join(f.source, entry.path))), entry.path).toBe(true);
    }
  });

  it('the same disc with its ISO 9660 descriptors wiped reads as UDF only, as 7-Zip reads it', async () => {
    const disc = await open(f.udfOnly);
    const info = discInfo(disc);
    expect(info['available-names']).toEqual(['udf']);
    expect(info.names).toBe('udf');
    expect(info['volume-id']).toBe('UDF_BRIDGE');
    expect(info.joliet).toBe(false);
    expect(info['rock-ridge']).toBe(false);
    const entries = await walk(disc);
    expect(listing(entries)).toEqual(sevenZip(f.udfOnly).entries);
    const vietnamese = await disc.resolve(`/${UDF_VIETNAMESE}`);
    expect((await bytesOf(disc, vietnamese)).toString()).toBe('xin chào, thế giới\n');
    // Ranges and small chunks read the same bytes as the source.
    const big = await disc.resolve('/big.bin');
    const source = readFileSync(join(f.source, 'big.bin'));
    for (const [start, length] of [
      [0, 10],
      [2047, 2],
      [1_000_000, 70_000],
      [source.length - 5, 100],
    ]) {
      expect(
        Buffer.from(await disc.readRange(big, start, length)).equals(source.subarray(start, start + length)),
        `${start}+${length}`,
      ).toBe(true);
    }
    const chunks: Uint8Array[] = [];
    for await (const chunk of disc.read(big, { start: 100, chunk: 4096 })) chunks.push(chunk);
    expect(chunks.every((c) => c.length <= 4096)).toBe(true);
    expect(Buffer.concat(chunks).equals(source.subarray(100))).toBe(true);
    // UDF names are looked up case-blind, as Windows does.
    expect((await disc.resolve('/A/B/C/DEEP.TXT')).size).toBe(12);
    const regions = await discLayout(disc);
    expect(regions.some((r) => r.kind === 'descriptors' && r.detail === 'udf')).toBe(true);
    expect(regions.some((r) => r.kind === 'files')).toBe(true);
    const spans = withGaps(regions, disc.storage.size);
    expect(spans[0].offset).toBe(0);
    expect(spans.reduce((end, s) => Math.max(end, s.offset + s.length), 0)).toBe(disc.storage.size);
  });

  it('mkudffs file systems of every revision (VAT ones too): revision, label and block size as udfinfo says, an empty root as 7-Zip lists', async () => {
    for (const revision of Object.keys(MKUDFFS_REVISIONS)) {
      const file = f.empty[revision];
      const disc = await open(file);
      const info = discInfo(disc);
      const expected = udfinfo(file);
      expect(info.udf, file).toBe(revision);
      // UDF 1.01 records no revisions in its integrity descriptor: udfinfo then gives the domain's.
      expect(info['udf-volume']?.['max-write-revision'] ?? info.udf).toBe(expected.udfwriterev);
      expect(info['udf-volume']?.['min-read-revision'] ?? info.udf).toBe(expected.udfrev);
      expect(info['volume-id']).toBe(expected.label);
      expect(info['udf-volume']?.['volume-id']).toBe(expected.vid);
      expect(info['block-size']).toBe(Number(expected.blocksize));
      expect(info['udf-volume']?.partitions.map((p) => p.kind)).toEqual(revision >= '2.50' ? ['physical', 'virtual'] : ['physical']);
      expect(await walk(disc)).toEqual([]);
      // 7-Zip cannot open a disc with a virtual allocation table (2.50/2.60 on BD-R); udfinfo can, and agrees above.
      if (revision < '2.50') expect(sevenZip(file)).toEqual({ version: revision, entries: new Map() });
    }
    for (const [media, file] of Object.entries(f.sparable)) {
      const info = discInfo(await open(file));
      expect(info['udf-volume']?.partitions.map((p) => p.kind)).toEqual(['sparable']);
      expect(info['volume-id']).toBe(`SPARABLE ${media}`);
      expect(info.udf).toBe(udfinfo(file).udfrev);
    }
    for (const [size, file] of Object.entries(f.blockSizes)) {
      const info = discInfo(await open(file));
      expect(info['block-size']).toBe(Number(size));
      expect(info['volume-id']).toBe(`B${size}`);
    }
  });

  it('pycdlib’s UDF symlinks (parent, current, root components) and 16-bit names read as written; revision as udfinfo says', async () => {
    const disc = await open(f.pycdlib, { names: 'udf' });
    const entries = await walk(disc);
    const links = Object.fromEntries(entries.filter((e) => e.type === 'symlink').map((e) => [e.path, e.target]));
    expect(links).toEqual(PYCDLIB_LINKS);
    for (const [path, text] of Object.entries(PYCDLIB_FILES))
      expect((await bytesOf(disc, await disc.resolve(path))).toString(), path).toBe(text);
    expect(discInfo(disc).udf).toBe(udfinfo(f.pycdlib).udfrev);
  });

  it('the CLI: info says UDF, ls --names=udf lists it, extract reads from it', async () => {
    const info = JSON.parse((await diskimg('iso', 'info', '--output=json', f.udfOnly)).stdout);
    expect(info).toMatchObject({ udf: '1.02', names: 'udf', 'el-torito': null, partitions: [] });
    const human = (await diskimg('iso', 'info', f.empty['2.60'])).stdout;
    expect(human).toMatch(/^File systems:\s+UDF 2\.60$/m);
    expect(human).toMatch(/^UDF partitions:\s+physical 0 .*; virtual 0/m);
    const ls = JSON.parse((await diskimg('iso', 'ls', '--names=udf', '--output=json', f.bridge, '/a/b')).stdout);
    expect(ls).toEqual([{ path: '/a/b/c', type: 'dir', size: 0 }]);
    const out = join(scratch, 'big.bin');
    expect((await diskimg('iso', 'extract', f.udfOnly, '/big.bin', out)).code).toBe(0);
    expect(readFileSync(out).equals(readFileSync(join(f.source, 'big.bin')))).toBe(true);
    const missing = await diskimg('iso', 'ls', '--names=joliet', f.udfOnly);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toMatch(/^diskimg: .*udf-only\.img: The disc has no joliet tree\n$/);
  });
});

describe('damaged UDF discs', () => {
  const copy = (from: string, name: string) => {
    const to = join(scratch, name);
    copyFileSync(from, to);
    return to;
  };
  const le32 = (v: number) => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24];

  it('file data past the end of a truncated image is named, not read as zeros', async () => {
    const file = copy(f.udfOnly, 'udf-cut.img');
    const big = await (await open(f.udfOnly)).resolve('/big.bin');
    // Keep the anchor at 256 and the tree, lose the end of the big file.
    truncateSync(file, big.extents[0].offset + 8192);
    const disc = await open(file);
    await expect(bytesOf(disc, await disc.resolve('/big.bin'))).rejects.toThrow(
      /The data of \/big\.bin lies at bytes \d+–\d+, past the end of the image/,
    );
  });

  it('an image cut before its anchor is not a disc image', async () => {
    const file = copy(f.udfOnly, 'udf-no-anchor.img');
    truncateSync(file, 200 * 2048);
    const error = await open(file).catch((e) => e);
    expect(error).toBeInstanceOf(DiskImgError);
    expect(error.message).toMatch(/Not an ISO 9660 or UDF disc image/);
  });

  it('a directory whose identifier points back at the root is a loop, refused at once', async () => {
    const file = copy(f.udfOnly, 'udf-loop.img');
    const clean = await open(f.udfOnly);
    const rootBlock = (clean.tree.root().ref as { block: number }).block;
    const a = await clean.resolve('/a');
    const aBlock = (a.ref as { block: number }).block;
    // The root's identifier for "a": CS0 name bytes [8, 'a'] right after a long_ad naming a's ICB.
    const raw = readFileSync(file);
    let fid = -1;
    for (let at = raw.indexOf(Buffer.from([1, 1])); at >= 0; at = raw.indexOf(Buffer.from([1, 1]), at + 1)) {
      if (
        at % 4 === 0 &&
        raw[at + 19] === 2 &&
        raw[at + 38 + raw.readUInt16LE(at + 36)] === 8 &&
        raw[at + 39 + raw.readUInt16LE(at + 36)] === 0x61 &&
        raw.readUInt32LE(at + 24) === aBlock
      ) {
        fid = at;
        break;
      }
    }
    expect(fid).toBeGreaterThan(0);
    // /a/b's identifier: aim it at the root.
    const b = (await clean.tree.list(a)).find((e) => e.name === 'b')!;
    const bBlock = (b.ref as { block: number }).block;
    let fidB = -1;
    for (let at = raw.indexOf(Buffer.from([1, 1])); at >= 0; at = raw.indexOf(Buffer.from([1, 1]), at + 1)) {
      if (at % 4 === 0 && raw[at + 19] === 2 && raw[at + 39 + raw.readUInt16LE(at + 36)] === 0x62 && raw.readUInt32LE(at + 24) === bBlock) {
        fidB = at;
        break;
      }
    }
    expect(fidB).toBeGreaterThan(0);
    patchFile(file, fidB + 24, le32(rootBlock));
    const looped = await open(file);
    const started = Date.now();
    await expect(walk(looped)).rejects.toThrow(/Directory loop: \/a\/b is one of its own parent directories/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('two identifiers naming one directory (a directory with two parents) are refused, not walked twice', async () => {
    const file = copy(f.udfOnly, 'udf-two-parents.img');
    const clean = await open(f.udfOnly);
    const a = await clean.resolve('/a');
    const many = await clean.resolve('/many');
    const [aBlock, manyBlock] = [a, many].map((e) => (e.ref as { block: number }).block);
    const raw = readFileSync(file);
    // The root's identifier for "many" (CS0 [8, 'm', 'a', 'n', 'y']): aim it at /a's file entry.
    let fid = -1;
    for (let at = 0; at + 48 < raw.length && fid < 0; at += 4) {
      if (
        raw[at] === 1 &&
        raw[at + 1] === 1 &&
        raw.readUInt32LE(at + 24) === manyBlock &&
        raw.toString('latin1', at + 38 + raw.readUInt16LE(at + 36), at + 43 + raw.readUInt16LE(at + 36)) === '\x08many'
      )
        fid = at;
    }
    expect(fid).toBeGreaterThan(0);
    patchFile(file, fid + 24, le32(aBlock));
    const disc = await open(file);
    await expect(walk(disc)).rejects.toThrow(/^Directory \/many is the same directory as \/a: a directory may have only one parent$/);
  });

  it('a file entry with a broken tag is named with its byte offset', async () => {
    const file = copy(f.udfOnly, 'udf-bad-fe.img');
    const clean = await open(f.udfOnly);
    const a = await clean.resolve('/a');
    const udf = clean.udfTree!;
    const at = udf.volume.offsetOf((a.ref as { partition: number }).partition, (a.ref as { block: number }).block);
    patchFile(file, at + 4, [readFileSync(file)[at + 4] ^ 0xff]);
    const disc = await open(file);
    const error = await walk(disc).catch((e) => e);
    expect(error).toBeInstanceOf(DiskImgError);
    expect(error.message).toBe(`The UDF file entry of /a at byte ${at} has no valid descriptor tag`);
    expect(error.context.offset).toBe(at);
  });

  it('a bridge disc whose UDF descriptor sequence is gone still opens, with ISO 9660 names and the reason', async () => {
    const file = copy(f.bridge, 'bridge-no-vds.iso');
    const anchor = readFileSync(file).subarray(256 * 2048, 256 * 2048 + 32);
    const vds = anchor.readUInt32LE(20);
    const reserve = anchor.readUInt32LE(28);
    for (const sector of [vds, reserve]) patchFile(file, sector * 2048, new Uint8Array(16 * 2048));
    const disc = await open(file);
    const info = discInfo(disc);
    expect(info.udf).toBe(false);
    expect(info.names).toBe('rock-ridge');
    expect(info['udf-error']).toMatch(/UDF volume descriptor sequence named by the anchor at byte 524288 has no logical volume descriptor/);
    expect((await walk(disc)).length).toBeGreaterThan(300);
  });
});
