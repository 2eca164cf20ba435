/**
 * The ISO reader against xorriso, genisoimage and 7-Zip on discs they made (and on the ISOs Debian
 * ships): descriptors, listings, file bytes, El Torito, system-area partitions; damaged copies
 * give clear errors quickly.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { checksums, verifySums } from '../../src/core/iso/checksums.ts';
import { Disc } from '../../src/core/iso/disc.ts';
import { zipEntries } from '../../src/core/iso/extract.ts';
import { discInfo } from '../../src/core/iso/info.ts';
import type { DiscEntry } from '../../src/core/iso/types.ts';
import { zipStream } from '../../src/core/iso/zip.ts';
import { nodeHashers } from '../../src/node/hashers.ts';
import { NodeFileStorage } from '../../src/node/file-storage.ts';
import { DEBIAN_ISOS, isoFixtures, LONG_NAME, VIETNAMESE, type IsoFixtures } from './iso-fixtures.ts';
import { diskimg } from './support.ts';
import { bytesOf, walk } from '../support/disc.ts';

let f: IsoFixtures;
let scratch: string;

beforeAll(() => {
  f = isoFixtures();
  scratch = mkdtempSync(join(tmpdir(), 'diskimg-iso-test-'));
}, 120_000);
afterAll(async () => {
  for (const storage of opened) await storage.close().catch(() => {});
  rmSync(scratch, { recursive: true, force: true });
});

const opened: NodeFileStorage[] = [];

/** Opens a disc; every file handle is closed after the tests, those of refused discs too. */
async function open(file: string): Promise<Disc> {
  const storage = await NodeFileStorage.open(file);
  opened.push(storage);
  return Disc.open(storage);
}

/**
 * Our listing in xorriso's terms. xorriso shows the boot catalog as a node of size 0; its
 * directory record (and 7-Zip) say 2048, which is what we report — compared as xorriso sees it.
 */
function asXorriso(disc: Disc, entries: DiscEntry[]): Map<string, { type: string; size: number; target?: string }> {
  const catalog = disc.bootCatalog?.offset;
  return new Map(
    entries.map((e) => [
      e.path,
      {
        type: e.type,
        size: e.type === 'file' && e.extents[0]?.offset !== catalog ? e.size : 0,
        ...(e.target !== undefined ? { target: e.target } : {}),
      },
    ]),
  );
}

/** xorriso's own listing: "mode links uid gid size date 'path'[ -> 'target']". */
function xorrisoListing(file: string): Map<string, { type: string; size: number; target?: string }> {
  const out = execFileSync('xorriso', ['-indev', file, '-find', '/', '-exec', 'lsdl'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const entries = new Map<string, { type: string; size: number; target?: string }>();
  for (const line of out.split('\n')) {
    const m = /^(\S)\S+\s+\d+\s+\S+\s+\S+\s+(\d+)\s+\w+\s+\d+\s+[\d:]+\s+'(.*?)'(?: -> '(.*)')?$/.exec(line);
    if (!m || m[3] === '/') continue;
    entries.set(m[3], {
      type: m[1] === 'd' ? 'dir' : m[1] === 'l' ? 'symlink' : 'file',
      size: m[1] === '-' ? Number(m[2]) : 0,
      ...(m[4] !== undefined ? { target: m[4] } : {}),
    });
  }
  return entries;
}

/** 7-Zip's listing (Joliet or plain ISO 9660 names): path → size, for files. */
function sevenZipFiles(file: string): Map<string, number> {
  const out = execFileSync('7z', ['l', '-slt', file], { encoding: 'utf8' });
  const files = new Map<string, number>();
  for (const block of out.split('\n\n')) {
    const path = /^Path = (.*)$/m.exec(block)?.[1];
    const folder = /^Folder = (.*)$/m.exec(block)?.[1];
    const size = /^Size = (\d+)$/m.exec(block)?.[1];
    if (path !== undefined && folder === '-' && size !== undefined) files.set(`/${path}`, Number(size));
  }
  return files;
}

describe('volume descriptors', () => {
  it('match what xorriso -pvd_info reports', async () => {
    const disc = await open(f.rich);
    const info = discInfo(disc);
    const pvd = execFileSync('xorriso', ['-indev', f.rich, '-pvd_info'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const field = (label: string) => new RegExp(`^${label}\\s*: ?(.*)$`, 'm').exec(pvd)![1].trim();
    expect(info['volume-id']).toBe(field('Volume Id'));
    expect(info['publisher-id']).toBe(field('Publisher Id'));
    expect(info['preparer-id']).toBe(field('Preparer Id'));
    expect(info['application-id']).toBe(field('App Id'));
    const created = field('Creation Time');
    expect(info['creation-date']!.replace(/\D/g, '').slice(0, 16)).toBe(created);
    expect(info['volume-size']).toBe(statSync(f.rich).size - 0 <= info['image-size'] ? info['volume-size'] : -1);
    expect(info['block-size']).toBe(2048);
    expect(info.joliet).toBe(true);
    expect(info['rock-ridge']).toBe('RRIP_1991A');
    expect(info.names).toBe('rock-ridge');
    expect(info['expiration-date']).toBeNull();
    await disc.storage.close?.();
  });
});

describe('listings and bytes', () => {
  it('the Rock Ridge tree equals xorriso’s, with symlinks, Unicode, long and deep names; bytes equal the source files', async () => {
    for (const file of [f.rich, f.gpt]) {
      const disc = await open(file);
      const entries = await walk(disc);
      const ours = asXorriso(disc, entries);
      expect(ours).toEqual(xorrisoListing(file));
      expect(ours.get(`/${VIETNAMESE}`)?.type).toBe('file');
      expect(ours.get(`/${LONG_NAME}`)?.type).toBe('file');
      expect(ours.get('/link-absolute')).toEqual({ type: 'symlink', size: 0, target: '/usr/share/doc' });
      for (const entry of entries.filter((e) => e.type === 'file' && e.path !== '/boot.catalog')) {
        expect((await bytesOf(disc, entry)).equals(readFileSync(join(f.source, entry.path))), entry.path).toBe(true);
      }
      await disc.storage.close?.();
    }
  });

  it('a Joliet-only disc lists Joliet names, as 7-Zip does', async () => {
    const disc = await open(f.joliet);
    expect(disc.tree.kind).toBe('joliet');
    const files = new Map((await walk(disc)).filter((e) => e.type === 'file').map((e) => [e.path, e.size]));
    expect(files).toEqual(sevenZipFiles(f.joliet));
    expect(files.has(`/${VIETNAMESE}`)).toBe(true);
    await disc.storage.close?.();
  });

  it('a plain ISO 9660 disc lists its names without ";1", as 7-Zip does', async () => {
    const disc = await open(f.plain);
    expect(disc.tree.kind).toBe('iso9660');
    const files = new Map((await walk(disc)).filter((e) => e.type === 'file').map((e) => [e.path, e.size]));
    expect(files).toEqual(sevenZipFiles(f.plain));
    expect([...files.keys()].some((p) => p.includes(';'))).toBe(false);
    // Case-blind lookup on a plain disc: users type the names as they know them.
    expect((await disc.resolve('/big.bin')).size).toBe(3 << 20);
    await disc.storage.close?.();
  });

  it('an empty disc has an empty root; 5000 files list completely', async () => {
    const empty = await open(f.empty);
    expect(await walk(empty)).toEqual([]);
    await empty.storage.close?.();
    const many = await open(f.many);
    const entries = await walk(many);
    expect(entries.filter((e) => e.type === 'file')).toHaveLength(5000);
    expect(new Map(entries.map((e) => [e.path, { type: e.type, size: e.type === 'file' ? e.size : 0 }]))).toEqual(xorrisoListing(f.many));
    await many.storage.close?.();
  });

  it('the ISOs Debian ships (grub-rescue-pc, ipxe) list as xorriso lists them', async () => {
    for (const file of DEBIAN_ISOS) {
      expect(existsSync(file), `${file} (installed by .ci/run)`).toBe(true);
      const disc = await open(file);
      expect(asXorriso(disc, await walk(disc))).toEqual(xorrisoListing(file));
      const info = discInfo(disc);
      expect(info['el-torito']?.entries.length).toBeGreaterThan(0);
      expect(info.partitions.length).toBeGreaterThan(0);
      await disc.storage.close?.();
    }
  });

  it('a file over 4 GiB made of several extents reads whole', async () => {
    const big = join(scratch, 'over4g');
    execFileSync('mkdir', ['-p', big]);
    const sparse = join(big, 'huge.bin');
    writeFileSync(sparse, 'head');
    truncateSync(sparse, 4 * 2 ** 30 + 4096);
    writeFileSync(join(big, 'after.txt'), 'after the big one\n');
    const iso = join(scratch, 'over4g.iso');
    execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-iso-level', '3', '-o', iso, big], { stdio: 'ignore' });
    const disc = await open(iso);
    const huge = await disc.resolve('/huge.bin');
    expect(huge.size).toBe(4 * 2 ** 30 + 4096);
    expect(huge.extents.length).toBeGreaterThan(1);
    expect(new Map((await walk(disc)).map((e) => [e.path, { type: e.type, size: e.size }]))).toEqual(
      new Map([...xorrisoListing(iso)].map(([p, v]) => [p, { type: v.type, size: v.size }])),
    );
    let total = 0;
    for await (const chunk of disc.read(huge)) total += chunk.length;
    expect(total).toBe(huge.size);
    // Ranges: the head, across the first extent boundary, the tail.
    expect(Buffer.from(await disc.readRange(huge, 0, 4)).toString()).toBe('head');
    const boundary = huge.extents[0].length;
    expect(await disc.readRange(huge, boundary - 3, 6)).toEqual(new Uint8Array(6));
    expect((await disc.readRange(huge, huge.size - 10, 100)).length).toBe(10);
    await disc.storage.close?.();
    rmSync(iso);
  }, 300_000);
});

describe('boot and partitions', () => {
  it('El Torito entries match xorriso -report_el_torito, and boot images extract', async () => {
    const disc = await open(f.rich);
    const report = execFileSync('xorriso', ['-indev', f.rich, '-report_el_torito', 'plain'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const images = [...report.matchAll(/^El Torito boot img :\s+\d+\s+(\S+)\s+(\S)\s+(\S+)\s+(0x[0-9a-f]+)\s+\S+\s+(\d+)\s+(\d+)$/gm)];
    const entries = disc.bootCatalog!.entries;
    expect(entries.map((e) => [e.platform, e.bootable, e.emulation, e.loadSegment, e.sectorCount, e.offset / 2048])).toEqual(
      images.map((m) => [m[1] === 'BIOS' ? 'bios' : 'uefi', m[2] === 'y', m[3], Number(m[4]), Number(m[5]), Number(m[6])]),
    );
    const efi = readFileSync(join(f.source, 'boot/efi.img'));
    expect(entries[1].loadSize).toBe(efi.length);
    const parts: Uint8Array[] = [];
    for await (const chunk of disc.readBootImage(1)) parts.push(chunk);
    expect(Buffer.concat(parts).equals(efi)).toBe(true);
    await disc.storage.close?.();
  });

  it('the appended EFI partition shows in the MBR and in the GPT', async () => {
    for (const [file, scheme] of [
      [f.rich, 'ef'],
      [f.gpt, 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B'],
    ] as const) {
      const disc = await open(file);
      const sfdisk = JSON.parse(execFileSync('sfdisk', ['--json', file], { encoding: 'utf8' })).partitiontable;
      const efi = disc.partitions.find((p) => p.type.code === scheme || p.type.guid === scheme);
      expect(efi, file).toBeDefined();
      const match = sfdisk.partitions.find((p: { start: number }) => p.start * 512 === efi!.start);
      expect(match.size * 512).toBe(efi!.size);
      expect(efi!.filesystem?.type).toBe('vfat');
      await disc.storage.close?.();
    }
  });
});

describe('extraction, zip and checksums', () => {
  it('a folder streams as a zip that Python’s zipfile reads back byte for byte', async () => {
    const disc = await open(f.rich);
    const zip = join(scratch, 'a.zip');
    const parts: Uint8Array[] = [];
    for await (const chunk of zipStream(zipEntries(disc, await disc.resolve('/')))) parts.push(chunk);
    writeFileSync(zip, Buffer.concat(parts));
    const check = spawnSync(
      'python3',
      [
        '-c',
        `
import zipfile, sys, os
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
src = sys.argv[2]
n = 0
for info in z.infolist():
    rel = info.filename.split('/', 1)[1] if '/' in info.filename else ''
    if info.is_dir() or not rel or rel == 'boot.catalog': continue
    mode = info.external_attr >> 16
    path = os.path.join(src, rel)
    if (mode & 0o170000) == 0o120000:
        assert z.read(info).decode() == os.readlink(path), rel
    else:
        assert z.read(info) == open(path, 'rb').read(), rel
    n += 1
print(n)
`,
        zip,
        f.source,
      ],
      { encoding: 'utf8' },
    );
    expect(check.stderr).toBe('');
    expect(Number(check.stdout)).toBeGreaterThan(5);
    await disc.storage.close?.();
  });

  it('diskimg iso extract writes a file, and a folder tree with its symlinks', async () => {
    const out = join(scratch, 'tree-out');
    expect((await diskimg('iso', 'extract', f.rich, '/', out)).code).toBe(0);
    expect(readFileSync(join(out, 'a/b/c/d/e/f/g/h/i/j/k/deep.txt'), 'utf8')).toBe('deep inside\n');
    expect(readlinkSync(join(out, 'link-relative'))).toBe('a/b/c');
    expect(readFileSync(join(out, VIETNAMESE)).equals(readFileSync(join(f.source, VIETNAMESE)))).toBe(true);
    const one = join(scratch, 'big.bin');
    expect((await diskimg('iso', 'extract', f.rich, '/big.bin', one)).code).toBe(0);
    expect(readFileSync(one).equals(readFileSync(join(f.source, 'big.bin')))).toBe(true);
  });

  it('checksums equal sha256sum/sha1sum/md5sum, and a SHA256SUMS line is matched or not', async () => {
    const storage = await NodeFileStorage.open(f.rich);
    const sums = await checksums(storage, ['sha256', 'sha1', 'md5'], nodeHashers);
    await storage.close();
    for (const [name, tool] of [
      ['sha256', 'sha256sum'],
      ['sha1', 'sha1sum'],
      ['md5', 'md5sum'],
    ] as const) {
      expect(sums[name]).toBe(execFileSync(tool, [f.rich], { encoding: 'utf8' }).split(' ')[0]);
    }
    const listing = `${'0'.repeat(64)}  other.iso\n${sums.sha256}  ./rich.iso\n`;
    expect(verifySums(listing, 'rich.iso', sums)).toMatchObject({ status: 'match', algorithm: 'sha256' });
    expect(verifySums(`${'f'.repeat(64)} *rich.iso`, 'rich.iso', sums)).toMatchObject({ status: 'mismatch' });
    expect(verifySums(`SHA1 (rich.iso) = ${sums.sha1}`, 'rich.iso', sums)).toMatchObject({ status: 'match', algorithm: 'sha1' });
    expect(verifySums(`${sums.md5}\n`, 'rich.iso', sums)).toMatchObject({ status: 'match', algorithm: 'md5' });
    // The right checksum listed under another name: said so, with that name.
    expect(verifySums(`${sums.sha256}  other.iso`, 'rich.iso', sums)).toEqual({
      status: 'listed-as',
      name: 'other.iso',
      algorithm: 'sha256',
    });
    const cli = await diskimg('iso', 'checksum', '--sha256', f.rich);
    expect(cli.stdout).toBe(`${sums.sha256}  ${f.rich}\n`);
  });

  it('the CLI prints info and ls as JSON with qemu-img-style keys', async () => {
    const info = JSON.parse((await diskimg('iso', 'info', '--output=json', f.rich)).stdout);
    expect(info['el-torito'].entries.map((e: { platform: string }) => e.platform)).toEqual(['bios', 'uefi']);
    const ls = JSON.parse((await diskimg('iso', 'ls', '-R', '--output=json', f.rich, '/a')).stdout);
    expect(ls.at(-1)).toEqual({ path: '/a/b/c/d/e/f/g/h/i/j/k/deep.txt', type: 'file', size: 12 });
  });
});

describe('damaged discs', () => {
  const damaged = (name: string) => copyFileSync(f.rich, join(scratch, name)) ?? join(scratch, name);
  const patch = (file: string, offset: number, bytes: number[]) => {
    const data = readFileSync(file);
    Buffer.from(bytes).copy(data, offset);
    writeFileSync(file, data);
  };
  const le32 = (v: number) => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24];

  it('a disc cut short in its descriptors', async () => {
    const file = damaged('cut.iso');
    truncateSync(file, 17 * 2048 + 100);
    await expect(open(file)).rejects.toThrow(/volume descriptor set is cut short: the image ends at 34916 bytes/);
  });

  it('a file whose data lies past the end of a truncated image', async () => {
    const file = damaged('short.iso');
    const disc = await open(f.rich);
    const big = await disc.resolve('/big.bin');
    await disc.storage.close?.();
    truncateSync(file, big.extents[0].offset + 4096);
    const cut = await open(file);
    await expect(bytesOf(cut, await cut.resolve('/big.bin'))).rejects.toThrow(/past the end of the image .* truncated or damaged/);
    const cli = await diskimg('iso', 'extract', file, '/big.bin', join(scratch, 'never.bin'));
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/^diskimg: .*short\.iso: The data of \/big\.bin lies at bytes/);
    await cut.storage.close?.();
  });

  it('a directory that points back to the root is a loop, refused at once', async () => {
    const file = damaged('loop.iso');
    const disc = await open(file);
    const rootExtent = disc.primary!.root.extent;
    // Aim /a's record at the root's own extent.
    const record = (await disc.tree.list(disc.tree.root())).find((e) => e.name === 'a')!;
    const raw = readFileSync(file);
    const at = raw.indexOf(Buffer.from([1, 'A'.charCodeAt(0)]), rootExtent * 2048) - 32; // name length 1, name "A"
    expect(raw.readUInt32LE(at + 2)).toBe((record.ref as { extent: number }).extent);
    await disc.storage.close?.();
    patch(file, at + 2, le32(rootExtent));
    const looped = await open(file);
    const started = Date.now();
    await expect(walk(looped)).rejects.toThrow(/Directory loop: \/a is one of its own parent directories/);
    expect(Date.now() - started).toBeLessThan(5000);
    await looped.storage.close?.();
  });

  it('a Rock Ridge continuation area that points to itself is refused', async () => {
    const file = damaged('ce-loop.iso');
    const raw = readFileSync(file);
    // The long name needs a continuation area (CE): aim it at the CE entry itself.
    const ce = raw.indexOf(Buffer.from([0x43, 0x45, 28, 1]), 16 * 2048);
    expect(ce).toBeGreaterThan(0);
    const sector = Math.floor(ce / 2048);
    patch(file, ce + 4, [...le32(sector), ...[sector >>> 24, (sector >>> 16) & 255, (sector >>> 8) & 255, sector & 255]]);
    patch(file, ce + 12, [...le32(ce % 2048), 0, 0, (ce % 2048) >>> 8, (ce % 2048) & 255]);
    // The root's own "." record holds the Rock Ridge ER in a continuation area: the open itself refuses.
    await expect(open(file).then(walk)).rejects.toThrow(/continuation areas of the record at byte \d+ loop/);
  });

  it('a root directory past the end, and a broken boot catalog, are named', async () => {
    const far = damaged('far-root.iso');
    patch(far, 16 * 2048 + 156 + 2, le32(0x7fffffff));
    await expect(open(far)).rejects.toThrow(/root directory of the primary volume descriptor lies at sector 2147483647, past the end/);
    const boot = damaged('bad-catalog.iso');
    const disc = await open(boot);
    const catalog = disc.bootCatalog!.offset;
    await disc.storage.close?.();
    patch(boot, catalog + 28, [0x12, 0x34]);
    await expect(open(boot)).rejects.toThrow(/validation entry's checksum is wrong/);
    const error = await open(boot).catch((e) => e);
    expect(error).toBeInstanceOf(DiskImgError);
    expect(error.context.offset).toBe(catalog + 28);
  });
});
