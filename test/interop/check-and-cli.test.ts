/**
 * check on images damaged on purpose agrees with qemu-img check (counters, messages, exit code),
 * and the built command behaves as a process should: exit codes, one-line errors, no traces.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, afterAll } from 'vitest';
import { NodeFileStorage } from '../../src/node/file-storage.ts';
import { diskimg, qemuImg, qemuImgOk } from './support.ts';

let dir: string;
let clean: string;

const be64 = (file: string, offset: number) => readFileSync(file).readBigUInt64BE(offset);
function patch(file: string, offset: number, bytes: Buffer): void {
  const data = readFileSync(file);
  bytes.copy(data, offset);
  writeFileSync(file, data);
}
const u16 = (value: number) => Buffer.from([value >> 8, value & 255]);
const u64 = (value: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(value);
  return b;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskimg-check-'));
  clean = join(dir, 'clean.qcow2');
  qemuImgOk('create', '-q', '-f', 'qcow2', clean, '8M');
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 256k', '-c', 'write -P 2 1M 64k', clean], { stdio: 'ignore' });
});

/** clean.qcow2: header 0, reftable 1, refblock 2 (at 0x20000), L1 3, L2 4, data 5-8 and 9. */
const REFBLOCK = 0x20000;
const damages: Record<string, (file: string) => void> = {
  'a leaked cluster': (file) => patch(file, REFBLOCK + 9 * 2, u16(2)),
  'a refcount too low (data)': (file) => patch(file, REFBLOCK + 6 * 2, u16(0)),
  'a refcount too low (L2 table)': (file) => patch(file, REFBLOCK + 4 * 2, u16(0)),
  'an L2 entry pointing into metadata': (file) => {
    const l2 = Number(be64(file, 0x30000) & 0x00fffffffffffe00n);
    patch(file, l2 + 8, u64((1n << 63n) | 0x10000n));
  },
  'a cluster used twice': (file) => {
    const l2 = Number(be64(file, 0x30000) & 0x00fffffffffffe00n);
    patch(file, l2 + 8, u64(be64(file, l2)));
  },
  'a missing COPIED flag': (file) => {
    const l2 = Number(be64(file, 0x30000) & 0x00fffffffffffe00n);
    patch(file, l2, u64(be64(file, l2) & ~(1n << 63n)));
  },
  'an L1 entry with reserved bits': (file) => patch(file, 0x30000, u64(be64(file, 0x30000) | 1n)),
  'a reference past the end of the file': (file) => {
    const l2 = Number(be64(file, 0x30000) & 0x00fffffffffffe00n);
    patch(file, l2 + 16, u64((1n << 63n) | 0x10000000n));
  },
};

describe('check on damaged images agrees with qemu-img check', () => {
  for (const [what, damage] of Object.entries(damages)) {
    it(what, async () => {
      const file = join(dir, `${what.replace(/\W+/g, '-')}.qcow2`);
      copyFileSync(clean, file);
      damage(file);
      const expected = qemuImg('check', file);
      expect(expected.code).not.toBe(0); // the damage is real
      const run = await diskimg('check', file);
      expect(run.code).toBe(expected.code);
      expect(run.stdout).toBe(expected.stdout);
      expect(run.stderr).toBe(expected.stderr);
      const json = await diskimg('check', '--output=json', file);
      expect(json.stdout).toBe(qemuImg('check', '--output=json', file).stdout);
    });
  }

  it('says raw images have no checks, with qemu-img exit code 63', async () => {
    const raw = join(dir, 'plain.raw');
    writeFileSync(raw, Buffer.alloc(4096, 1));
    const expected = qemuImg('check', raw);
    const run = await diskimg('check', raw);
    expect(run.code).toBe(63);
    expect(run.code).toBe(expected.code);
    expect(run.stderr).toBe(expected.stderr.replace('qemu-img:', 'diskimg:'));
  });
});

describe('the built command', () => {
  const bin = join(process.cwd(), 'dist-cli', 'diskimg.mjs');
  const cli = (...args: string[]) => spawnSync('node', [bin, ...args], { encoding: 'utf8' });

  it('exits as qemu-img does and never prints a stack trace for bad input', () => {
    expect(existsSync(bin), 'npm test builds the CLI before running the tests').toBe(true);
    const missing = cli('info', join(dir, 'nope.qcow2'));
    const theirs = qemuImg('info', join(dir, 'nope.qcow2'));
    expect(missing.status).toBe(theirs.code);
    expect(missing.stderr).toBe(theirs.stderr.replace('qemu-img:', 'diskimg:'));

    const garbage = join(dir, 'garbage.qcow2');
    copyFileSync(clean, garbage);
    patch(garbage, 4, Buffer.from([0, 0, 0, 9]));
    const bad = cli('convert', '-O', 'raw', garbage, join(dir, 'out.raw'));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe(`diskimg: Could not open '${garbage}': Unsupported qcow2 version 9\n`);
    expect(existsSync(join(dir, 'out.raw'))).toBe(false);

    expect(cli('frobnicate').status).toBe(1);
    expect(cli('compare', clean, clean).stdout).toBe('Images are identical.\n');
    expect(cli('compare', clean, join(dir, 'nope')).status).toBe(2);
    expect(cli('--version').stdout).toMatch(/^diskimg version \d+\.\d+\.\d+\n$/);
  });

  it('refuses to write over its input', async () => {
    const copy = join(dir, 'self.qcow2');
    copyFileSync(clean, copy);
    const before = readFileSync(copy);
    const run = await diskimg('convert', '-O', 'qcow2', copy, copy);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('is the input');
    expect(readFileSync(copy).equals(before)).toBe(true);
  });

  it('refuses an output that is the input under another name, its backing file or its data file', async () => {
    const linked = join(dir, 'linked.qcow2');
    linkSync(clean, linked);
    const before = readFileSync(clean);
    expect((await diskimg('convert', '-O', 'raw', clean, linked)).stderr).toContain('is the input');
    const overlay = join(dir, 'overlay-of-clean.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'clean.qcow2', '-F', 'qcow2', overlay]);
    const onBacking = await diskimg('convert', '-O', 'raw', overlay, join(dir, '.', 'clean.qcow2'));
    expect(onBacking.code).toBe(1);
    expect(onBacking.stderr).toContain('which the input reads');
    const external = join(dir, 'external.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `data_file=${join(dir, 'external.data')}`, external, '1M']);
    expect((await diskimg('convert', '-O', 'raw', external, join(dir, 'external.data'))).stderr).toContain('which the input reads');
    expect(readFileSync(clean).equals(before)).toBe(true);
  });

  it('says the disk is full, and leaves a device node alone', async () => {
    const source = join(dir, 'full-source.raw');
    writeFileSync(source, Buffer.alloc(1 << 20, 7));
    const run = await diskimg('convert', '-O', 'raw', source, '/dev/full');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^diskimg: error while converting: Could not write to '\/dev\/full' at offset 0: No space left on device\n$/,
    );
    expect(statSync('/dev/full').isCharacterDevice()).toBe(true);
  });

  it('stops with a clear error when the input shrinks while it is read', async () => {
    const source = join(dir, 'shrinking.raw');
    writeFileSync(source, Buffer.alloc(4 << 20, 3));
    const storage = await NodeFileStorage.open(source);
    truncateSync(source, 1 << 20);
    await expect(storage.read(2 << 20, 4096)).rejects.toThrow(
      `'${source}' shrank while being read: it had 4194304 bytes when opened, and ends before offset 2097152 now`,
    );
    await storage.close();
  });

  it('reports a mismatch at the offset qemu-img reports', async () => {
    const other = join(dir, 'other.qcow2');
    copyFileSync(clean, other);
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 9 1000k 1', other], { stdio: 'ignore' });
    const expected = qemuImg('compare', clean, other);
    const run = await diskimg('compare', clean, other);
    expect(expected.code).toBe(1);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(expected.stdout);
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));
