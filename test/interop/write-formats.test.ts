/**
 * Writing VMDK (monolithicSparse), VHD (vpc), VDI and VHDX that QEMU accepts: from raw, qcow2 and chained sources, for every
 * subformat, qemu-img info shows the format asked for, qemu-img check is clean where it checks
 * the format (VDI; it has no check for vpc), qemu-img compare finds the disks identical, 7-Zip
 * reads the same disk back, and the file is byte-identical to `qemu-img convert -O FMT -o …` of the
 * same source, except the fields qemu fills from randomness or the clock, which are masked:
 *   VHD: in each footer copy, the timestamp (24..28), the checksum (64..68, it covers the other
 *        two) and the UUID (68..84);
 *   VMDK: the descriptor's CID (its text is compared with the CID taken out: the CID's length
 *        moves what follows it);
 *   VDI: the image and last-snapshot UUIDs (0x188..0x1a8);
 *   VHDX: the creator (qemu writes its version, we 'diskimg'), in both headers the checksum, the
 *        sequence number (random at create) and the write and log GUIDs, in each log entry its
 *        checksum and log GUID, and the page 83 data (a random serial).
 */
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  writeFileSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures } from './fixtures.ts';
import { diskimg, firstDifference, qemuImg, qemuImgOk } from './support.ts';

let out: string;
beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'diskimg-write-formats-'));
});
// Its outputs (a 5 GiB disk among them, each written twice) filled the disk run after run.
afterAll(() => rmSync(out, { recursive: true, force: true }));

const source = (name: string) => {
  const fixture = fixtures().find((f) => f.name === name);
  if (!fixture) throw new Error(`no fixture ${name}`);
  return fixture.file;
};

type Mask = (file: string) => Array<[number, number]>;

const vhdFooterFields = (at: number): Array<[number, number]> => [
  [at + 24, 4],
  [at + 64, 20],
];
const vhdMask: Mask = (file) => {
  const size = statSync(file).size;
  const head = Buffer.alloc(8);
  const fd = openSync(file, 'r');
  readSync(fd, head, 0, 8, 0);
  closeSync(fd);
  // A dynamic VHD starts with a copy of the footer.
  return [...(head.toString('latin1') === 'conectix' ? vhdFooterFields(0) : []), ...vhdFooterFields(size - 512)];
};
const vdiMask: Mask = () => [[0x188, 32]];
/**
 * The embedded descriptor (its CID is random, and its length follows the CID's): compared apart,
 * up to its NUL. qemu-img draws a second CID at the first data write and rewrites the text in
 * place; when that CID has fewer hex digits, the old text's last byte stays after the NUL (seen
 * in 1 of 48 runs): randomness too.
 */
const vmdkMask: Mask = () => [[512, 20 * 512]];
const vmdkDescriptor = (file: string) => {
  const text = readAt(file, 512, 20 * 512).toString('latin1');
  const end = text.indexOf('\0');
  return (end < 0 ? text : text.slice(0, end)).replace(/^CID=[0-9a-f]{1,8}$/m, 'CID=…');
};
function readAt(file: string, offset: number, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  const fd = openSync(file, 'r');
  readSync(fd, bytes, 0, length, offset);
  closeSync(fd);
  return bytes;
}
const vhdxMask: Mask = (file) => {
  const ranges: Array<[number, number]> = [
    [8, 512], // creator: 'QEMU v7.2.22' / 'diskimg'
    [0x10004, 60], // each header: checksum, sequence number, file and data write GUIDs, log GUID
    [0x20004, 60],
  ];
  const logLength = readAt(file, 0x10000 + 68, 4).readUInt32LE(0);
  const log = readAt(file, 1024 * 1024, logLength);
  for (let at = 0; at < logLength; at += 4096) {
    if (log.toString('latin1', at, at + 4) !== 'loge') continue;
    // each log entry: its checksum and log GUID, and what follows its descriptors in its first
    // sector (qemu leaves there whatever its unzeroed buffer held; we write zeros)
    const descriptors = log.readUInt32LE(at + 24);
    ranges.push(
      [1024 * 1024 + at + 4, 4],
      [1024 * 1024 + at + 32, 16],
      [1024 * 1024 + at + 64 + 32 * descriptors, 4096 - 64 - 32 * descriptors],
    );
  }
  const metadata = Number(readAt(file, 0x30000 + 64, 8).readBigUInt64LE(0));
  ranges.push([metadata + 64 * 1024 + 16, 16]); // page 83 data (the disk's serial)
  return ranges;
};

/** A copy of `file` with the masked ranges zeroed. */
function masked(file: string, mask: Mask): string {
  const copy = `${file}.masked`;
  copyFileSync(file, copy);
  const fd = openSync(copy, 'r+');
  for (const [offset, length] of mask(file)) writeSync(fd, Buffer.alloc(length), 0, length, offset);
  closeSync(fd);
  return copy;
}

/** Whether 7-Zip reads the image without error. */
function sevenZipOpens(file: string): boolean {
  try {
    return execFileSync('7z', ['t', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).includes('Everything is Ok');
  } catch {
    return false;
  }
}

/** SHA-256 of what 7-Zip reads out of the image. */
function sevenZipDigest(file: string): string {
  return createHash('sha256')
    .update(execFileSync('7z', ['x', '-so', file], { maxBuffer: 1 << 30 }))
    .digest('hex');
}

/** SHA-256 of the source's guest disk, zero-padded to `size` bytes (the output may be larger). */
function rawDigest(input: string, size: number): string {
  const raw = join(out, `digest-${createHash('md5').update(input).digest('hex')}.raw`);
  qemuImgOk('convert', '-O', 'raw', input, raw);
  const bytes = execFileSync('cat', [raw], { maxBuffer: 1 << 30 });
  return createHash('sha256')
    .update(Buffer.concat([bytes, Buffer.alloc(size - bytes.length)]))
    .digest('hex');
}

interface Case {
  format: 'vpc' | 'vdi' | 'vhdx' | 'vmdk';
  options: string;
  extension: string;
  mask: Mask;
  /** What qemu-img info --output=json must show. */
  info: Record<string, unknown>;
  /** 7-Zip reads dynamic VHDs and VDIs (a fixed VHD is plain data to it). */
  sevenZip: boolean;
}

const CASES: Case[] = [
  { format: 'vpc', options: '', extension: 'vhd', mask: vhdMask, info: { format: 'vpc', 'cluster-size': 2097152 }, sevenZip: true },
  {
    format: 'vpc',
    options: 'subformat=dynamic,force_size=on',
    extension: 'vhd',
    mask: vhdMask,
    info: { format: 'vpc', 'cluster-size': 2097152 },
    sevenZip: true,
  },
  { format: 'vpc', options: 'subformat=fixed', extension: 'vhd', mask: vhdMask, info: { format: 'vpc' }, sevenZip: false },
  { format: 'vpc', options: 'subformat=fixed,force_size=on', extension: 'vhd', mask: vhdMask, info: { format: 'vpc' }, sevenZip: false },
  { format: 'vdi', options: '', extension: 'vdi', mask: vdiMask, info: { format: 'vdi', 'cluster-size': 1048576 }, sevenZip: true },
  {
    format: 'vdi',
    options: 'static=on',
    extension: 'vdi',
    mask: vdiMask,
    info: { format: 'vdi', 'cluster-size': 1048576 },
    sevenZip: true,
  },
  {
    format: 'vmdk',
    options: '',
    extension: 'vmdk',
    mask: vmdkMask,
    info: { format: 'vmdk', 'format-specific': { data: { 'create-type': 'monolithicSparse' } } },
    sevenZip: true,
  },
  {
    format: 'vmdk',
    options: 'adapter_type=lsilogic,hwversion=7,toolsversion=12345',
    extension: 'vmdk',
    mask: vmdkMask,
    info: { format: 'vmdk', 'format-specific': { data: { 'create-type': 'monolithicSparse' } } },
    sevenZip: true,
  },
  {
    format: 'vmdk',
    options: 'compat6=on,zeroed_grain=on',
    extension: 'vmdk',
    mask: vmdkMask,
    info: { format: 'vmdk', 'format-specific': { data: { 'create-type': 'monolithicSparse' } } },
    sevenZip: true,
  },
  { format: 'vhdx', options: '', extension: 'vhdx', mask: vhdxMask, info: { format: 'vhdx', 'cluster-size': 8388608 }, sevenZip: true },
  {
    format: 'vhdx',
    options: 'subformat=fixed',
    extension: 'vhdx',
    mask: vhdxMask,
    info: { format: 'vhdx', 'cluster-size': 8388608 },
    sevenZip: true,
  },
  {
    format: 'vhdx',
    options: 'subformat=fixed,block_state_zero=off',
    extension: 'vhdx',
    mask: vhdxMask,
    info: { format: 'vhdx' },
    sevenZip: true,
  },
  { format: 'vhdx', options: 'block_state_zero=off', extension: 'vhdx', mask: vhdxMask, info: { format: 'vhdx' }, sevenZip: true },
  {
    format: 'vhdx',
    options: 'block_size=1M,log_size=2M',
    extension: 'vhdx',
    mask: vhdxMask,
    info: { format: 'vhdx', 'cluster-size': 1048576 },
    sevenZip: true,
  },
  {
    format: 'vhdx',
    options: 'block_size=300M,log_size=1536k',
    extension: 'vhdx',
    mask: vhdxMask,
    info: { format: 'vhdx', 'cluster-size': 268435456 },
    sevenZip: true,
  },
];

const SOURCES = ['raw', 'compressed-zlib-64k.qcow2', 'chain-depth3', 'io-v3.qcow2', 'odd-size'];

describe.each(SOURCES)('from %s', (sourceName) => {
  for (const c of CASES) {
    const flags = c.options ? ['-o', c.options] : [];
    it(`convert -O ${c.format} ${flags.join(' ')}`, async () => {
      const input = source(sourceName);
      const tag = `${sourceName}-${c.format}-${c.options || 'default'}`.replace(/[^\w.-]/g, '_');
      // Same base names: a VMDK's descriptor names its file.
      mkdirSync(join(out, 'ours', tag), { recursive: true });
      mkdirSync(join(out, 'qemu', tag), { recursive: true });
      const ours = join(out, 'ours', tag, `disk.${c.extension}`);
      const theirs = join(out, 'qemu', tag, `disk.${c.extension}`);
      const run = await diskimg('convert', '-O', c.format, ...flags, input, ours);
      expect(run).toMatchObject({ code: 0, stderr: '' });
      qemuImgOk('convert', '-O', c.format, ...flags, input, theirs);

      // A fixed VHD has no header qemu probes: it is named.
      const info = JSON.parse(qemuImgOk('info', '-f', c.format, '--output=json', ours));
      expect(info).toMatchObject(c.info);
      if (c.format === 'vpc' && !c.options.includes('fixed')) expect(info).toHaveProperty('cluster-size');
      if (c.format === 'vpc' && c.options.includes('fixed')) expect(info).not.toHaveProperty('cluster-size');
      expect(info['virtual-size']).toBe(JSON.parse(qemuImgOk('info', '-f', c.format, '--output=json', theirs))['virtual-size']);
      if (c.format !== 'vpc') {
        const check = qemuImg('check', '-f', c.format, ours);
        expect(check.stdout).toContain('No errors were found on the image.');
        expect(check.code).toBe(0);
      }
      // A VHD rounded up to a CHS geometry is larger than its source (qemu-img warns; the rest reads as zeros).
      const compare = qemuImg('compare', '-F', c.format, input, ours);
      expect(compare).toMatchObject({ code: 0 });
      expect(compare.stdout).toMatch(/(^|\n)Images are identical\.\n$/);

      // The fields qemu draws at random (and the clock) do differ, so the masks hide something.
      expect(firstDifference(ours, theirs)).not.toBeNull();
      expect(firstDifference(masked(ours, c.mask), masked(theirs, c.mask))).toBeNull();
      if (c.format === 'vmdk') expect(vmdkDescriptor(ours)).toBe(vmdkDescriptor(theirs));

      // 7-Zip 16.02 reads dynamic VHDs and VDIs, and only some VHDX (not qemu-img's of a size that
      // is not a whole MiB): where it reads qemu-img's file, it must read ours, to the same disk.
      if (c.sevenZip && (c.format !== 'vhdx' || sevenZipOpens(theirs))) {
        expect(sevenZipOpens(ours)).toBe(true);
        expect(sevenZipDigest(ours)).toBe(rawDigest(input, info['virtual-size']));
      }
    });
  }
});

describe('a 200 GiB sparse disk (VHD past CHS geometry, VHDX 32 MiB blocks, 400 VMDK grain tables)', () => {
  const big = () => {
    const file = join(out, 'big.qcow2');
    if (!existsSync(file)) {
      qemuImgOk('create', '-q', '-f', 'qcow2', file, '200G');
      execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x45 0 64k', '-c', 'write -P 0x44 150G 3M', file], { stdio: 'ignore' });
    }
    return file;
  };
  for (const c of CASES.filter((c) => c.options === '')) {
    it(`convert -O ${c.format}`, async () => {
      for (const who of ['ours', 'qemu']) mkdirSync(join(out, who, `big-${c.format}`), { recursive: true });
      const [ours, theirs] = ['ours', 'qemu'].map((who) => join(out, who, `big-${c.format}`, `disk.${c.extension}`));
      expect(await diskimg('convert', '-O', c.format, big(), ours)).toMatchObject({ code: 0, stderr: '' });
      qemuImgOk('convert', '-O', c.format, big(), theirs);
      expect(statSync(ours).size).toBeLessThan(100 * 1024 * 1024);
      expect(firstDifference(masked(ours, c.mask), masked(theirs, c.mask))).toBeNull();
      if (c.format === 'vmdk') expect(vmdkDescriptor(ours)).toBe(vmdkDescriptor(theirs));
      // qemu-img compare reads a VHDX's 200 GiB of ZERO blocks one by one (half a minute); the
      // byte comparison with qemu-img's file above already says the same.
      if (c.format !== 'vhdx') expect(qemuImg('compare', big(), ours).stdout).toMatch(/Images are identical\.\n$/);
    });
  }
});

describe('an empty disk', () => {
  const empty = () => {
    const file = join(out, 'empty.raw');
    writeFileSync(file, new Uint8Array(0));
    return file;
  };
  for (const c of CASES.filter((c) => c.options === '' && c.format !== 'vmdk')) {
    it(`convert -O ${c.format}`, async () => {
      for (const who of ['ours', 'qemu']) mkdirSync(join(out, who, `empty-${c.format}`), { recursive: true });
      const [ours, theirs] = ['ours', 'qemu'].map((who) => join(out, who, `empty-${c.format}`, `disk.${c.extension}`));
      expect(await diskimg('convert', '-f', 'raw', '-O', c.format, empty(), ours)).toMatchObject({ code: 0, stderr: '' });
      qemuImgOk('convert', '-f', 'raw', '-O', c.format, empty(), theirs);
      // (VHDX: qemu counts the BAT's entries in 32 bits, 0 - 1 wraps, and its BAT region is 64 MiB.)
      expect(statSync(ours).size).toBe(statSync(theirs).size);
      expect(firstDifference(masked(ours, c.mask), masked(theirs, c.mask))).toBeNull();
      expect(JSON.parse(qemuImgOk('info', '-f', c.format, '--output=json', ours))['virtual-size']).toBe(0);
    });
  }

  it('convert -O vmdk is refused: qemu-img writes one, then cannot open it', async () => {
    const ours = join(out, 'empty.vmdk');
    const run = await diskimg('convert', '-f', 'raw', '-O', 'vmdk', empty(), ours);
    expect(run).toMatchObject({
      code: 1,
      stderr: `diskimg: ${ours}: error while converting vmdk: A VMDK of 0 bytes cannot be opened by qemu (it writes one, then refuses it)\n`,
    });
    expect(qemuImg('convert', '-f', 'raw', '-O', 'vmdk', empty(), join(out, 'empty.qemu.vmdk')).stderr).toContain(
      "Unsupported image type 'monolithicSparse'",
    );
    expect(existsSync(ours)).toBe(false);
  });
});

describe('VMDK of several files: a descriptor and its extents beside it', () => {
  /** A 5 GiB disk with data on both sides of the 2 GiB extent boundaries (qemu-io writes it). */
  const fiveGiB = () => {
    const file = join(out, 'five.qcow2');
    if (!existsSync(file)) {
      qemuImgOk('create', '-q', '-f', 'qcow2', file, '5G');
      execFileSync(
        'qemu-io',
        ['-f', 'qcow2', '-c', 'write -P 0x11 0 1M', '-c', 'write -P 0x22 2047M 2M', '-c', 'write -P 0x33 4500M 64k', file],
        { stdio: 'ignore' },
      );
    }
    return file;
  };
  const sources: Array<[string, () => string]> = [
    ['raw', () => source('raw')],
    ['chain-depth3', () => source('chain-depth3')],
    ['odd-size', () => source('odd-size')],
    ['a 5 GiB qcow2', fiveGiB],
  ];
  for (const subformat of ['monolithicFlat', 'twoGbMaxExtentSparse', 'twoGbMaxExtentFlat']) {
    describe.each(sources)('from %s', (sourceName, input) => {
      it(`convert -O vmdk -o subformat=${subformat}`, async () => {
        const dirs = ['ours', 'qemu'].map((who) => join(out, `${subformat}-${who}-${sourceName.replace(/\W/g, '_')}`));
        for (const dir of dirs) mkdirSync(dir, { recursive: true });
        // A name with two dots: qemu takes the last as the extension ("my.disk" + "-flat" + ".vmdk").
        const [ours, theirs] = dirs.map((dir) => join(dir, 'my.disk.vmdk'));
        const run = await diskimg('convert', '-O', 'vmdk', '-o', `subformat=${subformat}`, input(), ours);
        expect(run).toMatchObject({ code: 0, stderr: '' });
        qemuImgOk('convert', '-O', 'vmdk', '-o', `subformat=${subformat}`, input(), theirs);
        const info = JSON.parse(qemuImgOk('info', '--output=json', ours));
        expect(info).toMatchObject({ format: 'vmdk', 'format-specific': { data: { 'create-type': subformat } } });
        expect(qemuImg('check', ours).code).toBe(0);
        expect(qemuImg('compare', input(), ours).stdout).toBe('Images are identical.\n');
        // The descriptor file: the same text but the CID, padded to a sector as qemu leaves it.
        // (The CID's length moves where the zero padding starts.)
        // Up to the NUL: what qemu's CID rewrite may leave after it is no text (see vmdkDescriptor).
        const text = (file: string) => readAt(file, 0, statSync(file).size).toString('latin1').split('\0')[0];
        expect(statSync(ours).size).toBe(statSync(theirs).size);
        expect(text(ours).replace(/^CID=[0-9a-f]+$/m, 'CID=…')).toBe(text(theirs).replace(/^CID=[0-9a-f]+$/m, 'CID=…'));
        // Each extent the descriptor names: byte for byte.
        const names = [...text(theirs).matchAll(/^RW \d+ (?:FLAT|SPARSE) "([^"]+)"/gm)].map((m) => m[1]);
        expect(names.length).toBeGreaterThan(0);
        expect(names.every((name) => name.startsWith('my.disk-') && name.endsWith('.vmdk'))).toBe(true);
        for (const name of names) expect(firstDifference(join(dirs[0], name), join(dirs[1], name))).toBeNull();
      });
    });
  }

  it('never writes its extent over the input', async () => {
    const dir = join(out, 'flat-over-input');
    mkdirSync(dir, { recursive: true });
    const input = join(dir, 'disk-flat.vmdk');
    copyFileSync(source('odd-size'), input);
    const before = statSync(input).size;
    const run = await diskimg('convert', '-f', 'qcow2', '-O', 'vmdk', '-o', 'subformat=monolithicFlat', input, join(dir, 'disk.vmdk'));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('diskimg never writes to its input');
    expect(statSync(input).size).toBe(before);
    expect(existsSync(join(dir, 'disk.vmdk'))).toBe(false);
  });
});

describe('bad -o options fail as qemu-img fails', () => {
  const cases: Array<[string, string[]]> = [
    ['vpc', ['-o', 'subformat=streamOptimized']],
    ['vpc', ['-o', 'force_size=maybe']],
    ['vpc', ['-o', 'block_size=4M']],
    ['vpc', ['-c']],
    ['vdi', ['-o', 'static=2']],
    ['vdi', ['-o', 'subformat=fixed']],
    ['vdi', ['-c']],
    ['vmdk', ['-o', 'adapter_type=scsi']],
    ['vmdk', ['-o', 'subformat=sparse']],
    ['vmdk', ['-o', 'compat6=on,hwversion=7']],
    ['vmdk', ['-o', 'zeroed_grain=maybe']],
    ['vhdx', ['-o', 'subformat=differencing']],
    ['vhdx', ['-o', 'block_size=3M']],
    ['vhdx', ['-o', 'block_state_zero=perhaps']],
    ['vhdx', ['-o', 'log_size=big']],
    ['vhdx', ['-o', 'log_size=99999999999999999999']],
    ['vhdx', ['-o', 'log_size=5G']],
    ['vhdx', ['-o', 'static=on']],
  ];
  for (const [format, flags] of cases) {
    it(`convert -O ${format} ${flags.join(' ')}`, async () => {
      const input = source('raw');
      const ours = join(out, `bad-${format}.ours`);
      const theirs = join(out, `bad-${format}.qemu`);
      const run = await diskimg('convert', '-O', format, ...flags, input, ours);
      const expected = qemuImg('convert', '-O', format, ...flags, input, theirs);
      expect(expected.code).toBe(1);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(expected.stderr.replace(theirs, ours).replace('qemu-img:', 'diskimg:'));
    });
  }

  // Disks too large for the format: empty qcow2 files of that size (2 MiB clusters keep the L1 small).
  for (const [format, size] of [
    ['vpc', '2041G'],
    ['vdi', '2049T'],
    ['vhdx', '65T'],
  ]) {
    it(`convert -O ${format} of a ${size} disk`, async () => {
      const input = join(out, `huge-${size}.qcow2`);
      qemuImgOk('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=2M', input, size);
      const ours = join(out, `huge-${format}.ours`);
      const theirs = join(out, `huge-${format}.qemu`);
      const run = await diskimg('convert', '-O', format, input, ours);
      const expected = qemuImg('convert', '-O', format, input, theirs);
      expect(expected.code).toBe(1);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(expected.stderr.replace(theirs, ours).replace('qemu-img:', 'diskimg:'));
      expect(existsSync(ours)).toBe(false);
    });
  }

  // What qemu-img writes and diskimg does not (yet): refused up front, saying so, leaving no file.
  for (const [flags, message] of [
    [['-o', 'backing_file=base.vmdk'], 'error while converting vmdk: A backing file for a VMDK output is not supported by diskimg'],
  ] as const) {
    it(`convert -O vmdk ${flags.join(' ')}`, async () => {
      const ours = join(out, 'refused.vmdk');
      const run = await diskimg('convert', '-O', 'vmdk', ...flags, source('raw'), ours);
      expect(run).toMatchObject({ code: 1, stderr: `diskimg: ${ours}: ${message}\n` });
      expect(existsSync(ours)).toBe(false);
    });
  }

  it('refuses a VMDK descriptor that would overflow its 20 sectors (qemu-img writes it over the redundant grain directory)', async () => {
    const ours = join(out, 'long-tools.vmdk');
    const run = await diskimg('convert', '-O', 'vmdk', '-o', `toolsversion=${'9'.repeat(11000)}`, source('raw'), ours);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('The VMDK descriptor does not fit its 20 sectors (is toolsversion or hwversion too long?)');
    expect(existsSync(ours)).toBe(false);
  });
});
