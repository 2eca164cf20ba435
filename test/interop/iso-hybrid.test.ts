/**
 * Hybrid discs (isohybrid MBR from ISOLINUX, xorriso's GPT beside it, El Torito BIOS + UEFI)
 * against xorriso -report_system_area and -report_el_torito; names against isoinfo -f; an ISO
 * 9660:1999 disc against 7-Zip; every file of Debian's ISOs against osirrox -extract; path
 * tables against isoinfo -p; a tree deeper than we accept;
 * and every error the iso command can give a user.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { Disc } from '../../src/core/iso/disc.ts';
import { discInfo } from '../../src/core/iso/info.ts';
import { discLayout, withGaps } from '../../src/core/iso/layout.ts';
import { NodeFileStorage } from '../../src/node/file-storage.ts';
import { DEBIAN_ISOS, isoFixtures, type IsoFixtures } from './iso-fixtures.ts';
import { diskimg } from './support.ts';
import { walk } from '../support/disc.ts';

const ISOHDPFX = '/usr/lib/ISOLINUX/isohdpfx.bin';
const ISOLINUX = '/usr/lib/ISOLINUX/isolinux.bin';

let dir: string;
let f: IsoFixtures;
const iso = { hybrid: '', level4: '', deep: '', platforms: '' };
const opened: Disc[] = [];

beforeAll(() => {
  f = isoFixtures();
  dir = mkdtempSync(join(tmpdir(), 'diskimg-iso-hybrid-'));
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'boot'), { recursive: true });
  copyFileSync(ISOLINUX, join(tree, 'isolinux.bin'));
  execFileSync('mkfs.vfat', ['-C', join(tree, 'boot/efi.img'), '2880'], { stdio: 'ignore' });
  writeFileSync(join(tree, 'readme.txt'), 'hybrid\n');
  // Symlink components: parent, current, root, and a target long enough to need several SL entries.
  symlinkSync('../boot/./efi.img', join(tree, 'boot/up-and-back'));
  symlinkSync('/', join(tree, 'to-root'));
  symlinkSync(`${'segment/'.repeat(40)}end`, join(tree, 'long-target'));
  writeFileSync(join(tree, 'private.txt'), 'secret\n');
  chmodSync(join(tree, 'private.txt'), 0o600);
  chmodSync(join(tree, 'readme.txt'), 0o755);
  iso.hybrid = join(dir, 'hybrid.iso');
  execFileSync(
    'xorriso',
    [
      '-as',
      'mkisofs',
      '-quiet',
      '-R',
      '-J',
      '-V',
      'HYBRID',
      '-b',
      'isolinux.bin',
      '-c',
      'boot.cat',
      '-no-emul-boot',
      '-boot-load-size',
      '4',
      '-boot-info-table',
      '-isohybrid-mbr',
      ISOHDPFX,
      '-eltorito-alt-boot',
      '-e',
      'boot/efi.img',
      '-no-emul-boot',
      '-isohybrid-gpt-basdat',
      '-o',
      iso.hybrid,
      tree,
    ],
    { stdio: 'ignore' },
  );
  const long = join(dir, 'long');
  mkdirSync(join(long, 'a folder with a long name'), { recursive: true });
  writeFileSync(join(long, 'a folder with a long name/a rather long file name, with spaces.text'), 'long\n');
  iso.level4 = join(dir, 'level4.iso');
  execFileSync('genisoimage', ['-quiet', '-iso-level', '4', '-V', 'LEVEL4', '-o', iso.level4, long], { stdio: 'ignore' });
  // 1030 nested folders: deeper than the 1024 levels we follow (xorriso relocates them, Rock Ridge puts them back).
  mkdirSync(join(dir, 'deep', ...Array(1030).fill('d')), { recursive: true });
  // Floppy emulation, and PowerPC and Mac entries in their own sections.
  const boot = join(dir, 'platforms');
  mkdirSync(boot);
  const floppy = Buffer.alloc(1_474_560);
  floppy.writeUInt16LE(0xaa55, 510);
  writeFileSync(join(boot, 'floppy.img'), floppy);
  writeFileSync(join(boot, 'ppc.bin'), Buffer.alloc(4096, 0x60));
  iso.platforms = join(dir, 'platforms.iso');
  execFileSync(
    'xorriso',
    [
      '-as',
      'mkisofs',
      '-quiet',
      '-R',
      '-b',
      'floppy.img',
      '-c',
      'boot.cat',
      '-eltorito-alt-boot',
      '-eltorito-platform',
      'PPC',
      '-b',
      'ppc.bin',
      '-no-emul-boot',
      '-eltorito-alt-boot',
      '-eltorito-platform',
      'Mac',
      '-b',
      'ppc.bin',
      '-no-emul-boot',
      '-o',
      iso.platforms,
      boot,
    ],
    { stdio: 'ignore' },
  );
  iso.deep = join(dir, 'deep.iso');
  execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-o', iso.deep, join(dir, 'deep')], { stdio: 'ignore' });
}, 120_000);

afterAll(async () => {
  for (const disc of opened) await disc.storage.close?.();
  rmSync(dir, { recursive: true, force: true });
});

async function open(file: string, names?: 'joliet' | 'iso9660' | 'rock-ridge'): Promise<Disc> {
  const disc = await Disc.open(await NodeFileStorage.open(file), { names });
  opened.push(disc);
  return disc;
}

/** xorriso's GUID bytes as printed ("a2a0d0eb…") → the mixed-endian text form. */
function guid(hex: string): string {
  const b = hex.match(/../g)!;
  return `${b[3]}${b[2]}${b[1]}${b[0]}-${b[5]}${b[4]}-${b[7]}${b[6]}-${b[8]}${b[9]}-${b.slice(10).join('')}`.toUpperCase();
}

describe('hybrid discs', () => {
  it('isohybrid MBR and GPT partitions are those xorriso -report_system_area lists', async () => {
    expect(existsSync(ISOHDPFX), `${ISOHDPFX} (isolinux, installed by .ci/run)`).toBe(true);
    const disc = await open(iso.hybrid);
    const report = execFileSync('xorriso', ['-indev', iso.hybrid, '-report_system_area', 'plain'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const mbr = [...report.matchAll(/^MBR partition\s+:\s+(\d+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\d+)\s+(\d+)$/gm)].map((m) => ({
      scheme: 'mbr',
      index: Number(m[1]),
      bootable: m[2] === '80',
      code: Number.parseInt(m[3], 16).toString(16),
      start: Number(m[4]) * 512,
      size: Number(m[5]) * 512,
    }));
    const field = (name: string) =>
      new Map([...report.matchAll(new RegExp(`^GPT ${name}\\s*:\\s+(\\d+)\\s+(.*)$`, 'gm'))].map((m) => [Number(m[1]), m[2].trim()]));
    const [names, types, ranges] = [field('partname local'), field('type GUID'), field('start and size')];
    const gpt = [...ranges].map(([index, range]) => {
      const [start, size] = range.split(/\s+/).map(Number);
      return { scheme: 'gpt', index, guid: guid(types.get(index)!), name: names.get(index), start: start * 512, size: size * 512 };
    });
    expect(mbr.length).toBeGreaterThan(0);
    expect(gpt.length).toBeGreaterThan(0);
    const ours = disc.partitions.map((p) =>
      p.scheme === 'mbr'
        ? { scheme: p.scheme, index: p.index, bootable: p.bootable === true, code: p.type.code, start: p.start, size: p.size }
        : { scheme: p.scheme, index: p.index, guid: p.type.guid, name: p.name, start: p.start, size: p.size },
    );
    expect(ours).toEqual([...mbr, ...gpt]);
    const info = discInfo(disc);
    expect(info['system-area']).toMatchObject({ mbr: true, gpt: true });
    expect(disc.partitions.find((p) => p.scheme === 'mbr' && p.type.code === 'ef')?.filesystem?.type).toBe('vfat');
  });

  it('boot images are the files xorriso names, sized as those files', async () => {
    const disc = await open(iso.hybrid);
    const report = execFileSync('xorriso', ['-indev', iso.hybrid, '-report_el_torito', 'plain'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const paths = [...report.matchAll(/^El Torito img path :\s+(\d+)\s+(\S+)$/gm)].map((m) => m[2]);
    const entries = disc.bootCatalog!.entries;
    expect(entries.map((e) => e.path)).toEqual(paths);
    expect(entries.map((e) => [e.platform, e.sizeFrom, e.loadSize])).toEqual([
      ['bios', 'file', readFileSync(ISOLINUX).length],
      ['uefi', 'file', 2880 * 1024],
    ]);
    const chunks: Uint8Array[] = [];
    for await (const chunk of disc.readBootImage(0)) chunks.push(chunk);
    // The BIOS image is isolinux.bin with xorriso's boot info table patched in at byte 8.
    expect(Buffer.concat(chunks).length).toBe(readFileSync(ISOLINUX).length);
  });
});

describe('El Torito platforms and emulations', () => {
  it('floppy emulation, PowerPC and Mac entries as xorriso -report_el_torito reads them', async () => {
    const disc = await open(iso.platforms);
    const report = execFileSync('xorriso', ['-indev', iso.platforms, '-report_el_torito', 'plain'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const PLATFORMS: Record<string, string> = { BIOS: 'bios', UEFI: 'uefi', PPC: 'powerpc', Mac: 'mac' };
    const EMULATIONS: Record<string, string> = {
      none: 'none',
      'fd1.2': '1.2M floppy',
      'fd1.4': '1.44M floppy',
      'fd2.8': '2.88M floppy',
      hd: 'hard disk',
    };
    const paths = new Map([...report.matchAll(/^El Torito img path :\s+(\d+)\s+(\S+)$/gm)].map((m) => [Number(m[1]), m[2]]));
    const theirs = [
      ...report.matchAll(/^El Torito boot img :\s+(\d+)\s+(\S+)\s+(\S)\s+(\S+)\s+(0x[0-9a-f]+)\s+\S+\s+(\d+)\s+(\d+)$/gm),
    ].map((m) => ({
      platform: PLATFORMS[m[2]],
      bootable: m[3] === 'y',
      emulation: EMULATIONS[m[4]],
      loadSegment: Number(m[5]),
      sectorCount: Number(m[6]),
      offset: Number(m[7]) * 2048,
      path: paths.get(Number(m[1])),
    }));
    const ours = disc.bootCatalog!.entries.map(({ platform, bootable, emulation, loadSegment, sectorCount, offset, path }) => ({
      platform,
      bootable,
      emulation,
      loadSegment,
      sectorCount,
      offset,
      path,
    }));
    expect(ours).toEqual(theirs);
    expect(disc.bootCatalog!.entries.map((e) => [e.loadSize, e.sizeFrom])).toEqual([
      [1_474_560, 'floppy'],
      [4096, 'file'],
      [4096, 'file'],
    ]);
  });
});

describe('Rock Ridge attributes and the disc picture', () => {
  it('modes, links, owners, times and symlink targets equal xorriso -lsdl', async () => {
    const disc = await open(iso.hybrid);
    const out = execFileSync('xorriso', ['-indev', iso.hybrid, '-find', '/', '-exec', 'lsdl'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const theirs = new Map<string, string>();
    for (const line of out.split('\n')) {
      const m = /^(\S{10})\s+(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+(\w+ +\d+ [\d:]+)\s+'(.*?)'(?: -> '(.*)')?$/.exec(line);
      // xorriso types the boot catalog "e" (its own node kind); on the disc it is a plain file.
      if (m && m[6] !== '/')
        theirs.set(
          m[6],
          `${m[1].replace(/^e/, '-')} ${m[2]} ${m[3]} ${m[4]} ${m[5].replace(/ +/g, ' ')}${m[7] !== undefined ? ` -> ${m[7]}` : ''}`,
        );
    }
    const month = (iso: string) => new Date(iso).toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
    const ours = new Map(
      (await walk(disc)).map((e) => {
        const d = new Date(e.modified!);
        const time = `${month(e.modified!)} ${d.getUTCDate()} ${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
        return [e.path, `${modeString(e.mode!)} ${e.nlink} ${e.uid} ${e.gid} ${time}${e.target !== undefined ? ` -> ${e.target}` : ''}`];
      }),
    );
    expect(ours).toEqual(theirs);
    expect(ours.get('/boot/up-and-back')).toMatch(/-> \.\.\/boot\/\.\/efi\.img$/);
    expect(ours.get('/to-root')).toMatch(/-> \/$/);
    expect(ours.get('/private.txt')).toMatch(/^-rw------- /);
  });

  it('the layout covers the disc in order, bounded, with every kind of structure', async () => {
    for (const file of [iso.hybrid, f.many]) {
      const disc = await open(file);
      const regions = await discLayout(disc);
      expect(regions.length).toBeLessThanOrEqual(4096);
      expect(regions.every((r, i) => i === 0 || r.offset >= regions[i - 1].offset)).toBe(true);
      expect(regions.every((r) => r.length > 0 && r.offset + r.length <= disc.storage.size)).toBe(true);
      const kinds = new Set(regions.map((r) => r.kind));
      for (const kind of ['system-area', 'descriptors', 'path-tables', 'directories', 'files'])
        expect(kinds.has(kind as never), `${file}: ${kind}`).toBe(true);
      if (file === iso.hybrid)
        for (const kind of ['boot-catalog', 'boot-image', 'partition']) expect(kinds.has(kind as never), kind).toBe(true);
      const spans = withGaps(regions, disc.storage.size);
      let end = 0;
      for (const span of spans) {
        expect(span.offset).toBeLessThanOrEqual(end); // no hole between spans
        end = Math.max(end, span.offset + span.length);
      }
      expect(end).toBe(disc.storage.size);
    }
  });
});

function modeString(mode: number): string {
  const type = (mode & 0o170000) === 0o040000 ? 'd' : (mode & 0o170000) === 0o120000 ? 'l' : '-';
  let bits = '';
  for (let shift = 6; shift >= 0; shift -= 3)
    bits += `${mode & (4 << shift) ? 'r' : '-'}${mode & (2 << shift) ? 'w' : '-'}${mode & (1 << shift) ? 'x' : '-'}`;
  return type + bits;
}

describe('names and tables against isoinfo and 7-Zip', () => {
  it('Rock Ridge, Joliet and plain names are what isoinfo -f lists', async () => {
    for (const [names, flags] of [
      ['rock-ridge', ['-R']],
      ['joliet', ['-J']],
      ['iso9660', []],
    ] as const) {
      const disc = await open(f.rich, names);
      const listed = execFileSync('isoinfo', ['-f', ...flags, '-i', f.rich], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean);
      const ours = (await walk(disc)).map((e) => e.path);
      if (names === 'iso9660') {
        // isoinfo keeps the ";1" version and the dot of extension-less names; we show what 7-Zip shows.
        expect(ours.sort()).toEqual(listed.map((p) => p.replace(/;\d+$/, '').replace(/\.$/, '')).sort());
      } else if (names === 'joliet') {
        // isoinfo prints Joliet names in an 8-bit charset: what lies beyond Latin-1 becomes "_".
        expect(ours.map((p) => p.replace(/[^\u0000-\u00ff]/g, '_')).sort()).toEqual(listed.sort());
      } else expect(ours.sort()).toEqual(listed.sort());
    }
  });

  it('every file of the ISOs Debian ships reads as osirrox -extract writes it', async () => {
    for (const file of [...DEBIAN_ISOS, iso.hybrid]) {
      const out = join(dir, `osirrox-${file.split('/').pop()}`);
      execFileSync('osirrox', ['-indev', file, '-extract', '/', out], { stdio: 'ignore' });
      execFileSync('chmod', ['-R', 'u+w', out]);
      const disc = await open(file);
      let files = 0;
      for (const entry of await walk(disc)) {
        const path = join(out, entry.path);
        if (entry.type === 'symlink') expect(readlinkSync(path), entry.path).toBe(entry.target);
        if (entry.type !== 'file') continue;
        const chunks: Uint8Array[] = [];
        for await (const chunk of disc.read(entry)) chunks.push(chunk);
        expect(Buffer.concat(chunks).equals(readFileSync(path)), `${file}: ${entry.path}`).toBe(true);
        files++;
      }
      expect(files).toBeGreaterThan(3);
    }
  });

  it('an ISO 9660:1999 disc shows its long plain names as 7-Zip does', async () => {
    const disc = await open(iso.level4);
    const info = discInfo(disc);
    expect(info['iso9660-1999']).toBe(true);
    expect(info.names).toBe('iso9660');
    const seven = execFileSync('7z', ['l', '-slt', iso.level4], { encoding: 'utf8' });
    const sevenPaths = [...seven.matchAll(/^Path = (.*)$/gm)].map((m) => `/${m[1]}`).slice(1);
    expect((await walk(disc)).map((e) => e.path).sort()).toEqual(sevenPaths.sort());
  });

  it('path tables hold as many directories as isoinfo -p lists, and agree', async () => {
    for (const file of [f.rich, f.many, iso.hybrid]) {
      const info = discInfo(await open(file));
      const out = execFileSync('isoinfo', ['-p', '-i', file], { encoding: 'utf8' });
      const listed = out.split('\n').filter((l) => /^\s*\d+:/.test(l));
      const [, block, size] = /Path table starts at block (\d+), size (\d+)/.exec(out)!;
      expect(info['path-tables']).toMatchObject({
        'l-location': Number(block),
        size: Number(size),
        directories: listed.length,
        problems: [],
      });
    }
  });

  it('a tree deeper than 1024 levels is refused with a limit error, quickly and without a stack overflow', async () => {
    const disc = await open(iso.deep);
    const started = Date.now();
    const error = await walk(disc).catch((e) => e);
    expect(error).toBeInstanceOf(DiskImgError);
    expect(error.kind).toBe('limit');
    expect(error.message).toMatch(/^The directory tree is deeper than 1024 levels at \/d\/d\/.*…(\/d)+$/);
    expect(error.message.length).toBeLessThan(200);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('diskimg iso errors: one line, exit 1', () => {
  const expectError = async (args: string[], pattern: RegExp) => {
    const run = await diskimg('iso', ...args);
    expect(run.code, args.join(' ')).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(pattern);
    expect(run.stderr.trimEnd().split('\n').length).toBeLessThanOrEqual(2); // the message, and "Try --help" for usage
    expect(run.stderr).not.toMatch(/\n\s+at /);
  };

  it('for files, paths and arguments a user gets wrong', async () => {
    const notIso = join(dir, 'not-an-iso.bin');
    writeFileSync(notIso, Buffer.alloc(64 * 1024, 0x41));
    await expectError(['info', join(dir, 'missing.iso')], /^diskimg: Could not open '.*missing\.iso': No such file or directory\n$/);
    await expectError(
      ['info', notIso],
      /^diskimg: .*not-an-iso\.bin: Not an ISO 9660 or UDF disc image: no CD001 volume descriptor at byte 32768 and no UDF anchor at sector 256\n$/,
    );
    await expectError(
      ['ls', f.rich, '/no/such/thing'],
      /^diskimg: .*rich\.iso: No such file or directory on the disc: \/no\/such\/thing\n$/,
    );
    await expectError(['ls', f.rich, '/big.bin/inside'], /^diskimg: .*rich\.iso: \/big\.bin is not a directory\n$/);
    await expectError(['extract', f.rich, '/missing', join(dir, 'out')], /No such file or directory on the disc: \/missing\n$/);
    await expectError(['extract', f.rich, '/big.bin'], /^diskimg: Expecting: diskimg iso extract FILE PATH OUT\nTry 'diskimg --help'/);
    await expectError(['ls', '--names=hfs', f.rich], /^diskimg: --names must be one of udf, rock-ridge, joliet, iso9660\n/);
    await expectError(['ls', '--names=udf', f.rich], /rich\.iso: The disc has no udf tree\n$/);
    await expectError(['info', '--output=xml', f.rich], /^diskimg: --output must be used with human or json as argument\.\n$/);
    await expectError(['mount', f.rich], /^diskimg: Unknown iso command 'mount'/);
    await expectError([], /^diskimg: Expecting an iso command/);
    await expectError(['info'], /^diskimg: Expecting a disc image/);
    await expectError(['checksum', join(dir, 'missing.iso')], /^diskimg: Could not open '.*missing\.iso': No such file or directory\n$/);
    await expectError(
      ['checksum', '--check', join(dir, 'no-SHA256SUMS'), f.rich],
      /^diskimg: Could not read '.*no-SHA256SUMS': No such file or directory\n$/,
    );
    const empty = join(dir, 'empty.bin');
    writeFileSync(empty, '');
    await expectError(['ls', empty], /empty\.bin: Not an ISO 9660 or UDF disc image/);
  });

  it('for outputs that cannot be written, and never over the disc itself', async () => {
    await expectError(
      ['extract', f.rich, '/big.bin', join(dir, 'no/such/folder/big.bin')],
      /^diskimg: Could not write '.*no\/such\/folder\/big\.bin': No such file or directory\n$/,
    );
    await expectError(
      ['extract', f.rich, '/', join(dir, 'no/such/folder/disc.zip')],
      /^diskimg: Could not write '.*disc\.zip': No such file or directory\n$/,
    );
    const copy = join(dir, 'copy.iso');
    copyFileSync(iso.level4, copy);
    await expectError(
      ['extract', copy, '/a folder with a long name/a rather long file name, with spaces.text', copy],
      /^diskimg: Refusing to write over the input: /,
    );
    expect(readFileSync(copy).equals(readFileSync(iso.level4))).toBe(true);
    // A folder as a zip through the CLI: 7-Zip lists what the disc holds.
    const zip = join(dir, 'level4.zip');
    expect(await diskimg('iso', 'extract', iso.level4, '/', zip)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(execFileSync('7z', ['l', '-slt', zip], { encoding: 'utf8' })).toMatch(
      /^Path = LEVEL4\/a folder with a long name\/a rather long file name, with spaces\.text$/m,
    );
  });

  it('checksum --check says OK, FAILED or not listed', async () => {
    const sums = join(dir, 'SHA256SUMS');
    const sha = execFileSync('sha256sum', [iso.level4], { encoding: 'utf8' }).split(' ')[0];
    writeFileSync(sums, `${sha}  level4.iso\n${'0'.repeat(64)}  hybrid.iso\n`);
    expect(await diskimg('iso', 'checksum', '--check', sums, iso.level4)).toEqual({
      code: 0,
      stdout: 'level4.iso: OK (sha256)\n',
      stderr: '',
    });
    expect(await diskimg('iso', 'checksum', '--check', sums, iso.hybrid)).toEqual({
      code: 1,
      stdout: 'hybrid.iso: FAILED (sha256)\n',
      stderr: '',
    });
    expect(await diskimg('iso', 'checksum', '--check', sums, iso.deep)).toEqual({
      code: 2,
      stdout: '',
      stderr: `diskimg: deep.iso is not listed in ${sums}\n`,
    });
  });
});
