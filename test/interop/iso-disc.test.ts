/**
 * zisofs files, Rock Ridge devices/FIFOs/sockets, long symlinks, UTF-8 labels and truncated
 * images, against what xorriso (and libarchive's own test discs) say; damaged copies are named.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { Disc } from '../../src/core/iso/disc.ts';
import { zipEntries } from '../../src/core/iso/extract.ts';
import { discInfo, entryJson } from '../../src/core/iso/info.ts';
import { zipStream } from '../../src/core/iso/zip.ts';
import { NodeFileStorage } from '../../src/node/file-storage.ts';
import { bytesOf, walk } from '../support/disc.ts';
import { discFixtures, HUGE_SIZE, HUGE_TAIL, LABEL, LINKS, PREPARER, PUBLISHER, type DiscFixtures } from './iso-disc-fixtures.ts';
import { diskimg } from './support.ts';

let f: DiscFixtures;
let scratch: string;
const opened: NodeFileStorage[] = [];

beforeAll(() => {
  f = discFixtures();
  scratch = mkdtempSync(join(tmpdir(), 'diskimg-iso-disc-'));
}, 120_000);
afterAll(async () => {
  for (const storage of opened) await storage.close().catch(() => {});
  rmSync(scratch, { recursive: true, force: true });
});

async function open(file: string): Promise<Disc> {
  const storage = await NodeFileStorage.open(file);
  opened.push(storage);
  return Disc.open(storage);
}

/** xorriso's listing: path → the size column (a device's "major,minor") and a symlink's target. */
function xorrisoListing(file: string): Map<string, { mode: string; size: string; target?: string }> {
  const out = execFileSync('xorriso', ['-indev', file, '-find', '/', '-exec', 'lsdl'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const map = new Map<string, { mode: string; size: string; target?: string }>();
  for (const line of out.split('\n')) {
    const m = /^(\S+)\s+\d+\s+\d+\s+\d+\s+(\S+)\s+\w+\s+\d+\s+[\d:]+\s+'(.*?)'(?: -> '(.*)')?$/.exec(line);
    if (m && m[3] !== '/') map.set(m[3], { mode: m[1], size: m[2], ...(m[4] !== undefined ? { target: m[4] } : {}) });
  }
  return map;
}

/** The libarchive discs, uudecoded (and uncompressed) from test/fixtures/iso. */
function libarchiveDisc(name: string): string {
  const text = readFileSync(join(import.meta.dirname, '../fixtures/iso', `${name}.uu`), 'latin1');
  const parts: Buffer[] = [];
  for (const line of text.split('\n').slice(1)) {
    if (line === 'end' || line.length === 0) break;
    const n = (line.charCodeAt(0) - 32) & 63;
    const bytes: number[] = [];
    for (let i = 1; bytes.length < n; i += 4) {
      const c = [0, 1, 2, 3].map((k) => (line.charCodeAt(i + k) - 32) & 63);
      bytes.push((c[0] << 2) | (c[1] >> 4), ((c[1] & 15) << 4) | (c[2] >> 2), ((c[2] & 3) << 6) | c[3]);
    }
    parts.push(Buffer.from(bytes.slice(0, n)));
  }
  let data = Buffer.concat(parts);
  if (name.endsWith('.Z')) data = execFileSync('gzip', ['-dc'], { input: data });
  const out = join(scratch, name.replace(/\.Z$/, ''));
  writeFileSync(out, data);
  return out;
}

describe('zisofs', () => {
  it('v1, zisofs2 (ZF PZ and Z2) and mkzftree files list their decompressed size, as xorriso does, and read as the originals', async () => {
    for (const [file, version] of [
      [f.zv1, 1],
      [f.zv2, 2],
      [f.z2, 2],
      [f.mkz, 1],
    ] as const) {
      const disc = await open(file);
      const entries = await walk(disc);
      const theirs = xorrisoListing(file);
      for (const entry of entries.filter((e) => e.type === 'file')) {
        expect(String(entry.size), `${file} ${entry.path}`).toBe(theirs.get(entry.path)?.size);
        const original = readFileSync(join(f.zsource, entry.path));
        expect((await bytesOf(disc, entry)).equals(original), `${file} ${entry.path}`).toBe(true);
      }
      const text = entries.find((e) => e.path === '/text.txt')!;
      expect(text.zisofs).toMatchObject({ version });
      expect(text.zisofs!.stored).toBeLessThan(text.size / 20);
      expect(entries.find((e) => e.path === '/varied.txt')!.zisofs).toBeDefined();
      // Tiny files are stored as they are.
      expect(entries.find((e) => e.path === '/tiny.txt')!.zisofs).toBeUndefined();
      // A range from the middle of a block, across blocks.
      const varied = entries.find((e) => e.path === '/varied.txt')!;
      expect(
        Buffer.from(await disc.readRange(varied, 100_000, 70_000)).equals(
          readFileSync(join(f.zsource, 'varied.txt')).subarray(100_000, 170_000),
        ),
      ).toBe(true);
    }
  });

  it('iso ls says which files are zisofs and what they hold on the disc; extract and the zip decompress', async () => {
    const disc = await open(f.zv1);
    const text = await disc.resolve('/text.txt');
    const long = await diskimg('iso', 'ls', '-l', f.zv1);
    expect(long.stdout).toMatch(new RegExp(`\\s300006 .* /text\\.txt  \\(zisofs, ${text.zisofs!.stored} bytes stored\\)\\n`));
    expect(long.stdout).toMatch(/ \/tiny\.txt\n/);
    const json = JSON.parse((await diskimg('iso', 'ls', '--output=json', f.z2)).stdout) as ReturnType<typeof entryJson>[];
    expect(json.find((e) => e.path === '/text.txt')).toMatchObject({
      size: 300006,
      compression: 'zisofs2',
      'stored-size': expect.any(Number),
    });
    expect(json.find((e) => e.path === '/tiny.txt')).toEqual({ path: '/tiny.txt', type: 'file', size: 5 });
    const out = join(scratch, 'text.txt');
    expect((await diskimg('iso', 'extract', f.zv2, '/text.txt', out)).code).toBe(0);
    expect(readFileSync(out).equals(readFileSync(join(f.zsource, 'text.txt')))).toBe(true);
    const tree = join(scratch, 'ztree');
    expect((await diskimg('iso', 'extract', f.mkz, '/', tree)).code).toBe(0);
    expect(readFileSync(join(tree, 'sub/zeros.bin')).equals(Buffer.alloc(200_000))).toBe(true);
    const zip = join(scratch, 'z.zip');
    const chunks: Uint8Array[] = [];
    for await (const chunk of zipStream(zipEntries(disc, disc.tree.root()))) chunks.push(chunk);
    writeFileSync(zip, Buffer.concat(chunks));
    const check = execFileSync(
      'python3',
      [
        '-c',
        'import zipfile,sys,hashlib; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(hashlib.sha256(z.read("ISOIMAGE/varied.txt")).hexdigest())',
        zip,
      ],
      { encoding: 'utf8' },
    );
    expect(check.trim()).toBe(execFileSync('sha256sum', [join(f.zsource, 'varied.txt')], { encoding: 'utf8' }).split(' ')[0]);
  });

  it('iso info counts the zisofs files, their stored and decompressed bytes, and names the first', async () => {
    const disc = await open(f.zv1);
    const zisofs = (await walk(disc)).filter((e) => e.zisofs);
    const json = JSON.parse((await diskimg('iso', 'info', '--output=json', f.zv1)).stdout);
    expect(json.zisofs).toEqual({
      files: zisofs.length,
      'stored-bytes': zisofs.reduce((n, e) => n + e.zisofs!.stored, 0),
      'decompressed-bytes': zisofs.reduce((n, e) => n + e.size, 0),
      examples: zisofs.map((e) => e.path),
      complete: true,
    });
    expect((await diskimg('iso', 'info', f.zv1)).stdout).toMatch(
      new RegExp(`^zisofs files: +${zisofs.length} \\(\\d+ bytes stored, \\d+ decompressed\\)\n  /`, 'm'),
    );
    expect(JSON.parse((await diskimg('iso', 'info', '--output=json', f.devx)).stdout).zisofs).toBeUndefined();
  });

  it('libarchive’s zisofs disc: /file is 12345684 bytes starting "hello\\n"; its hostile ZF (block size 2^2) is no zisofs', async () => {
    const disc = await open(libarchiveDisc('test_read_format_iso_zisofs.iso.Z'));
    const file = await disc.resolve('/file');
    expect(file.size).toBe(12345684);
    expect(file.zisofs).toMatchObject({ version: 1, blockSize: 32768 });
    const bytes = await bytesOf(disc, file);
    expect(bytes.length).toBe(12345684);
    expect(bytes.subarray(0, 6).toString()).toBe('hello\n');
    const hostile = await open(libarchiveDisc('test_read_format_iso_zisofs_overflow.iso'));
    const entries = (await walk(hostile)).filter((e) => e.type === 'file');
    expect(entries.length).toBeGreaterThan(0);
    for (const entry of entries) {
      expect(entry.size).toBeLessThan(1 << 20);
      expect(entry.zisofs).toBeUndefined();
    }
  });

  it('a 4.5 GB zisofs2 file held in 34 KiB lists its size, reads its end at once and streams whole without holding it', async () => {
    const disc = await open(f.huge);
    const huge = await disc.resolve('/huge.bin');
    expect(huge.size).toBe(HUGE_SIZE);
    expect(String(huge.size)).toBe(xorrisoListing(f.huge).get('/huge.bin')?.size);
    expect(huge.zisofs).toMatchObject({ version: 2, blockSize: 1 << 20 });
    expect(huge.zisofs!.stored).toBeLessThan(40_000);
    let started = Date.now();
    const tail = await disc.readRange(huge, HUGE_SIZE - 100, 100);
    expect(Buffer.from(tail).toString('latin1').endsWith(HUGE_TAIL)).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
    started = Date.now();
    let total = 0;
    let nonZero = 0;
    for await (const chunk of disc.read(huge)) {
      total += chunk.length;
      if (chunk[0] !== 0 || chunk[chunk.length - 1] !== 0) nonZero++;
    }
    expect(total).toBe(HUGE_SIZE);
    expect(nonZero).toBe(1);
    console.info(`4.5 GB zisofs2 file streamed in ${Date.now() - started} ms`);
  }, 120_000);

  describe('a block pointer table that lies is named, never a runaway', () => {
    /** A copy of the v1 disc, and where /varied.txt's stored stream starts in it. */
    async function damaged(name: string): Promise<{ file: string; at: number; pointers: number[] }> {
      const file = join(scratch, name);
      copyFileSync(f.zv1, file);
      const disc = await open(file);
      const entry = await disc.resolve('/varied.txt');
      const at = entry.extents[0].offset;
      const raw = readFileSync(file);
      const blocks = Math.ceil(entry.size / 32768);
      return { file, at, pointers: Array.from({ length: blocks + 1 }, (_, i) => raw.readUInt32LE(at + 16 + 4 * i)) };
    }
    const patch = (file: string, offset: number, write: (b: Buffer) => void) => {
      const raw = readFileSync(file);
      write(raw.subarray(offset));
      writeFileSync(file, raw);
    };
    async function readError(file: string): Promise<DiskImgError> {
      const disc = await open(file);
      const error = await bytesOf(disc, await disc.resolve('/varied.txt')).catch((e) => e);
      expect(error).toBeInstanceOf(DiskImgError);
      return error;
    }

    it('pointers out of order', async () => {
      const { file, at, pointers } = await damaged('order.iso');
      patch(file, at + 16 + 4 * 3, (b) => b.writeUInt32LE(pointers[1]));
      const error = await readError(file);
      expect(error.message).toMatch(/^zisofs file \/varied\.txt: block pointers 2 and 3 are out of order/);
      expect(error.context).toMatchObject({ block: 2 });
    });

    it('a pointer past the end of the stored file', async () => {
      const { file, at } = await damaged('beyond.iso');
      patch(file, at + 16 + 4 * 5, (b) => b.writeUInt32LE(0x7fffffff));
      expect((await readError(file)).message).toMatch(
        /^zisofs file \/varied\.txt: block 4 ends at byte 2147483647, past the end of the stored file/,
      );
    });

    it('a block that inflates beyond the block size', async () => {
      const { file, at, pointers } = await damaged('bomb.iso');
      const bomb = deflate(Buffer.alloc(1 << 20));
      expect(bomb.length).toBeLessThan(pointers[1] - pointers[0]);
      patch(file, at + pointers[0], (b) => bomb.copy(b));
      const error = await readError(file);
      expect(error.message).toBe('zisofs file /varied.txt: block 0 inflates to more than its 32768 bytes');
    });

    it('a size of 4 GiB in a small file (header and ZF agree) is refused before any allocation', async () => {
      const { file, at } = await damaged('size.iso');
      patch(file, at + 8, (b) => b.writeUInt32LE(0xfffffff0));
      const raw = readFileSync(file);
      // The ZF entry of the record: "ZF", 16, 1, "pz", 4, 15, size both-endian.
      const old = raw.readUInt32LE(at + 8);
      expect(old).toBe(0xfffffff0);
      const zf = raw.indexOf(
        Buffer.from([0x5a, 0x46, 16, 1, 0x70, 0x7a, 4, 15, ...u32le(readFileSync(join(f.zsource, 'varied.txt')).length)]),
      );
      expect(zf).toBeGreaterThan(0);
      patch(file, zf + 8, (b) => {
        b.writeUInt32LE(0xfffffff0, 0);
        b.writeUInt32BE(0xfffffff0, 4);
      });
      const disc = await open(file);
      const entry = await disc.resolve('/varied.txt');
      expect(entry.size).toBe(0xfffffff0);
      const error = await bytesOf(disc, entry).catch((e) => e);
      expect(error.message).toMatch(/^zisofs file \/varied\.txt: 131073 block pointers do not fit in the stored file/);
    });
  });
});

const u32le = (v: number) => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24];
const deflate = (bytes: Buffer) =>
  execFileSync('python3', ['-c', 'import sys,zlib; sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read(), 9))'], { input: bytes });

describe('Rock Ridge devices, FIFOs and sockets', () => {
  it('list with their type and device numbers, as xorriso lists them (xorriso -R and genisoimage -R)', async () => {
    for (const file of [f.devx, f.devg]) {
      const disc = await open(file);
      const entries = new Map((await walk(disc)).map((e) => [e.path, e]));
      expect(entries.get('/disk')).toMatchObject({ type: 'block', device: { major: 8, minor: 1 }, size: 0, extents: [] });
      expect(entries.get('/null')).toMatchObject({ type: 'char', device: { major: 1, minor: 3 } });
      expect(entries.get('/fifo')).toMatchObject({ type: 'fifo' });
      expect(entries.get('/socket')).toMatchObject({ type: 'socket' });
      expect(entries.get('/plain.txt')).toMatchObject({ type: 'file', size: 6 });
      expect(entries.get('/nvme')).toMatchObject({ type: 'block', device: { major: 259, minor: 70000 } });
      const theirs = xorrisoListing(file);
      const long = (await diskimg('iso', 'ls', '-l', file)).stdout;
      for (const name of ['disk', 'null', 'nvme', 'fifo', 'socket']) {
        const { mode, size } = theirs.get(`/${name}`)!;
        // genisoimage's PN holds major and minor in its two words (as Linux reads it); xorriso shows that as "0,<both>".
        const numbers =
          file === f.devx || !size.includes(',')
            ? size
            : `${entries.get(`/${name}`)!.device!.major},${entries.get(`/${name}`)!.device!.minor}`;
        expect(long).toMatch(new RegExp(`^${mode.replace(/[-]/g, '\\-')} .* ${numbers} .* /${name}$`, 'm'));
      }
      const json = JSON.parse((await diskimg('iso', 'ls', '--output=json', file)).stdout) as ReturnType<typeof entryJson>[];
      expect(json.find((e) => e.path === '/disk')).toEqual({ path: '/disk', type: 'block', size: 0, major: 8, minor: 1 });
      expect(json.find((e) => e.path === '/fifo')).toEqual({ path: '/fifo', type: 'fifo', size: 0 });
      expect(json.find((e) => e.path === '/socket')).toEqual({ path: '/socket', type: 'socket', size: 0 });
    }
  });

  it('extraction creates none of them and names each skipped one; alone, one is refused; the zip leaves them out', async () => {
    const out = join(scratch, 'devtree');
    const run = await diskimg('iso', 'extract', f.devx, '/', out);
    expect(run.code).toBe(0);
    expect(run.stderr.split('\n').filter(Boolean).sort()).toEqual([
      'diskimg: skipped /disk: a block device is not extracted',
      'diskimg: skipped /fifo: a FIFO is not extracted',
      'diskimg: skipped /null: a character device is not extracted',
      'diskimg: skipped /nvme: a block device is not extracted',
      'diskimg: skipped /socket: a socket is not extracted',
    ]);
    expect(readdirSync(out).sort()).toEqual(['abs300', 'comp255', 'long200', 'long335', 'plain.txt']);
    expect(lstatSync(join(out, 'long200')).isSymbolicLink()).toBe(true);
    const alone = await diskimg('iso', 'extract', f.devx, '/fifo', join(scratch, 'fifo'));
    expect(alone.code).toBe(1);
    expect(alone.stderr).toBe('diskimg: /fifo is a FIFO: there are no bytes to extract\n');
    expect(existsSync(join(scratch, 'fifo'))).toBe(false);
    const disc = await open(f.devx);
    const names: string[] = [];
    for await (const entry of zipEntries(disc, disc.tree.root())) names.push(entry.path);
    expect(names.some((n) => /disk|fifo|socket|null/.test(n))).toBe(false);
    await expect(bytesOf(disc, await disc.resolve('/null'))).rejects.toThrow('/null is a character device: it has no bytes to read');
  });
});

describe('long Rock Ridge symlinks', () => {
  it('targets of 200, 300+ characters and a 255-character component (several SL entries, CONTINUE) are whole, as xorriso reads them', async () => {
    for (const file of [f.devx, f.devg]) {
      const disc = await open(file);
      const theirs = xorrisoListing(file);
      for (const [name, target] of Object.entries(LINKS)) {
        const entry = await disc.resolve(`/${name}`);
        expect(entry.target, `${file} ${name}`).toBe(target);
        expect(theirs.get(`/${name}`)?.target).toBe(target);
      }
    }
  });
});

describe('labels and ids in UTF-8', () => {
  it('genisoimage -input-charset utf-8: read as UTF-8 (no Joliet), or Joliet’s (UCS-2) where there is one', async () => {
    const info = discInfo(await open(f.label));
    expect(info).toMatchObject({
      'volume-id': LABEL,
      'publisher-id': PUBLISHER,
      'preparer-id': PREPARER,
      'application-id': 'Ứng dụng',
      'system-id': 'HỆ',
    });
    const joliet = await open(f.labelJoliet);
    expect(discInfo(joliet)).toMatchObject({ 'volume-id': LABEL, 'publisher-id': PUBLISHER });
    expect(joliet.label).toBe(LABEL);
    expect((await diskimg('iso', 'info', f.label)).stdout).toMatch(new RegExp(`^Volume id: +${LABEL}$`, 'm'));
    // What xorriso shows (it reads the primary's bytes as the locale does: UTF-8 here).
    expect(execFileSync('xorriso', ['-indev', f.label, '-pvd_info'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toContain(
      `Volume Id    : ${LABEL}`,
    );
  });

  it('bytes that are not UTF-8 are Latin-1', async () => {
    const file = join(scratch, 'latin1.iso');
    copyFileSync(f.boot, file);
    const raw = readFileSync(file);
    Buffer.from('CAF\xc9 \xe0 LA CR\xc8ME'.padEnd(32, ' '), 'latin1').copy(raw, 16 * 2048 + 40);
    writeFileSync(file, raw);
    const disc = await open(file);
    expect(disc.primary!.volumeId).toBe('CAFÉ à LA CRÈME');
  });

  it('a UTF-8 label cut by the end of its 32-byte field loses its last character, not its charset', async () => {
    const file = join(scratch, 'cut-label.iso');
    copyFileSync(f.boot, file);
    const raw = readFileSync(file);
    Buffer.from(`a${'Đ'.repeat(16)}`, 'utf8').copy(raw, 16 * 2048 + 40, 0, 32);
    writeFileSync(file, raw);
    expect((await open(file)).primary!.volumeId).toBe(`a${'Đ'.repeat(15)}`);
  });
});

describe('a truncated image', () => {
  it('says how much is missing and which files lose data (the first 20 names, then a count)', async () => {
    const whole = await open(f.boot);
    const notes = (await walk(whole)).filter((e) => e.path.startsWith('/docs/')).sort((a, b) => a.extents[0].offset - b.extents[0].offset);
    const cutAt = notes[2].extents[0].offset + 1;
    const file = join(scratch, 'cut.iso');
    copyFileSync(f.boot, file);
    truncateSync(file, cutAt);
    const disc = await open(file);
    const t = disc.truncation!;
    expect(t.missing).toBe(disc.primary!.volumeSpaceSize * 2048 - cutAt);
    expect(t.files.length).toBe(20);
    expect(t.fileCount).toBeGreaterThanOrEqual(28);
    expect(t.files).toContain(notes[2].path);
    expect(t.files).not.toContain(notes[1].path);
    const info = discInfo(disc);
    expect(info.truncated).toMatchObject({ 'missing-bytes': t.missing, 'file-count': t.fileCount, complete: true });
    const human = (await diskimg('iso', 'info', file)).stdout;
    expect(human).toMatch(
      new RegExp(
        `^WARNING: the image is truncated: ${t.missing} bytes of its \\d+-byte volume are missing; ${t.fileCount} files lose data$`,
        'm',
      ),
    );
    expect(human).toMatch(new RegExp(`^  … and ${t.fileCount - 20} more$`, 'm'));
    expect(discInfo(whole).truncated).toBeUndefined();
  });
});
