/**
 * VHDX images made by the real qemu-img and qemu-io: both subformats, every block size qemu-img
 * offers (1 to 256 MiB), log sizes, block_state_zero on and off, partial, zero and discarded
 * writes, a disk past 4 GiB (sector bitmap entries interleaved in the BAT), a qcow2 over a vhdx,
 * and a VHDX whose log must be replayed (qemu's own last log entry, left unflushed). Built once
 * into a cache folder keyed by this file's content.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { cachedFixtures } from '../support/fixture-cache.ts';
import { mixedRaw } from './fixtures.ts';

export interface VhdxFixture {
  name: string;
  file: string;
  /** Compare raw conversions with qemu-img compare (huge sparse disks). */
  sparse?: boolean;
  /** The image has a backing chain. */
  chain?: boolean;
  /** qemu-img cannot open it read-only: compare with this copy, on which `qemu-img check -r all` replayed the log. */
  replayed?: string;
}

const MiB = 1024 * 1024;
let cwd = '.';
const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
const qemuIo = (file: string, ...commands: string[]) =>
  execFileSync('qemu-io', ['-f', 'vhdx', ...commands.flatMap((c) => ['-c', c]), file], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });

/** Writes that touch whole blocks, parts of blocks (leading, trailing, middle), zeros and discards. */
const WRITES = [
  'write -P 1 0 64k',
  'write -P 2 1000k 100k',
  'write -z 3M 1M',
  'write -P 3 5M 512',
  'write -P 4 6143k 2k',
  'discard 0 4k',
  'write -z 9M 4k',
  'write -P 5 12M 1M',
];

function readBytes(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  const out = Buffer.alloc(length);
  readSync(fd, out, 0, length, offset);
  closeSync(fd);
  return out;
}

function writeBytes(file: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(file, 'r+');
  writeSync(fd, bytes, 0, bytes.length, offset);
  closeSync(fd);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  return c >>> 0;
});
/** CRC-32C of `bytes` with its 4-byte field at `at` taken as zero, stored there (little-endian). */
export function stampCrc(bytes: Buffer, at: number): void {
  bytes.writeUInt32LE(0, at);
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  bytes.writeUInt32LE((c ^ 0xffffffff) >>> 0, at);
}

/**
 * Turns a qemu-made image back into the state just before its last log entry was flushed: the
 * entry is still in the log; the header names its log GUID again, and the 4 KiB the entry wrote
 * are put back as they were in `before` (the image before the last write).
 */
export function unflushLastLogEntry(file: string, before: string): void {
  const h1 = readBytes(file, 64 * 1024, 4096);
  const h2 = readBytes(file, 128 * 1024, 4096);
  const logOffset = Number(h1.readBigUInt64LE(72));
  const entry = readBytes(file, logOffset, 4096);
  if (entry.toString('latin1', 0, 4) !== 'loge') throw new Error('no log entry at the log offset');
  const guid = entry.subarray(32, 48);
  // Put back what each data descriptor wrote.
  const count = entry.readUInt32LE(24);
  for (let i = 0; i < count; i++) {
    const d = entry.subarray(64 + i * 32, 96 + i * 32);
    const at = Number(d.readBigUInt64LE(16));
    writeBytes(file, at, readBytes(before, at, 4096));
  }
  for (const [h, at] of [
    [h1, 64 * 1024],
    [h2, 128 * 1024],
  ] as const) {
    guid.copy(h, 48);
    stampCrc(h, 4);
    writeBytes(file, at, h);
  }
}

function build(dir: string): VhdxFixture[] {
  cwd = dir;
  const f = (name: string) => join(dir, name);
  const fixtures: VhdxFixture[] = [];
  const source = mixedRaw(f('source.raw'), 20 * MiB + 3 * 512, 11);

  for (const block of ['1M', '2M', '8M', '32M', '256M']) {
    const name = `dynamic-${block}.vhdx`;
    qemuImg('create', '-f', 'vhdx', '-o', `block_size=${block}`, f(name), '16M');
    qemuIo(f(name), ...WRITES);
    fixtures.push({ name, file: f(name) });
  }
  qemuImg('create', '-f', 'vhdx', f('dynamic-default.vhdx'), '64M');
  qemuIo(f('dynamic-default.vhdx'), ...WRITES);
  fixtures.push({ name: 'dynamic-default.vhdx', file: f('dynamic-default.vhdx') });

  for (const zero of ['on', 'off']) {
    const name = `zero-${zero}.vhdx`;
    qemuImg('create', '-f', 'vhdx', '-o', `block_size=1M,block_state_zero=${zero}`, f(name), '8M');
    qemuIo(f(name), 'write -z 0 2M', 'write -P 6 2M 4k', 'write -z 2M 1M');
    fixtures.push({ name, file: f(name) });
  }
  for (const log of ['1M', '4M']) {
    const name = `log-${log}.vhdx`;
    qemuImg('create', '-f', 'vhdx', '-o', `log_size=${log},block_size=2M`, f(name), '10M');
    qemuIo(f(name), 'write -P 7 1M 2M');
    fixtures.push({ name, file: f(name) });
  }
  for (const block of ['1M', '8M']) {
    const name = `fixed-${block}.vhdx`;
    qemuImg('create', '-f', 'vhdx', '-o', `subformat=fixed,block_size=${block}`, f(name), '12M');
    qemuIo(f(name), 'write -P 8 1M 3k', 'write -z 4M 1M');
    fixtures.push({ name, file: f(name) });
  }
  for (const sub of ['dynamic', 'fixed']) {
    const name = `convert-${sub}.vhdx`;
    qemuImg('convert', '-f', 'raw', '-O', 'vhdx', '-o', `subformat=${sub},block_size=1M`, source, f(name));
    fixtures.push({ name, file: f(name) });
  }
  // Odd sizes: not a whole block, and not a whole MiB.
  qemuImg('create', '-f', 'vhdx', '-o', 'block_size=1M', f('odd-size.vhdx'), String(5 * MiB + 7 * 512));
  qemuIo(f('odd-size.vhdx'), 'write -P 9 5M 3584');
  fixtures.push({ name: 'odd-size.vhdx', file: f('odd-size.vhdx') });
  qemuImg('create', '-f', 'vhdx', f('empty.vhdx'), '0');
  fixtures.push({ name: 'empty.vhdx', file: f('empty.vhdx') });

  // Past 4 GiB: the BAT holds a sector bitmap entry after every chunk ratio payload entries.
  for (const block of ['1M', '64M']) {
    const name = `big-${block}.vhdx`;
    qemuImg('create', '-f', 'vhdx', '-o', `block_size=${block}`, f(name), '10G');
    qemuIo(f(name), 'write -P 10 0 4k', `write -P 11 ${4 * 1024 - 1}M 2M`, 'write -P 12 9G 64k', `write -P 13 ${10 * 1024 - 1}M 1M`);
    fixtures.push({ name, file: f(name), sparse: true });
  }

  // A qcow2 over a vhdx: where the overlay holds nothing, the vhdx (no block status) says data.
  qemuImg('create', '-f', 'vhdx', '-o', 'block_size=1M', f('base.vhdx'), '6M');
  qemuIo(f('base.vhdx'), 'write -P 14 0 2M');
  qemuImg('create', '-f', 'qcow2', '-b', 'base.vhdx', '-F', 'vhdx', f('over-vhdx.qcow2'), '8M');
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 15 1M 64k', f('over-vhdx.qcow2')], { cwd, stdio: 'ignore' });
  fixtures.push({ name: 'over-vhdx.qcow2', file: f('over-vhdx.qcow2'), chain: true });

  // A log to replay: qemu's last log entry (a BAT update), its flush undone.
  qemuImg('create', '-f', 'vhdx', '-o', 'block_size=1M', f('dirty.vhdx'), '8M');
  qemuIo(f('dirty.vhdx'), 'write -P 16 0 1M');
  copyFileSync(f('dirty.vhdx'), f('dirty-before.vhdx'));
  qemuIo(f('dirty.vhdx'), 'write -P 17 3M 5k');
  unflushLastLogEntry(f('dirty.vhdx'), f('dirty-before.vhdx'));
  execFileSync('mkdir', ['-p', f('replayed')]);
  copyFileSync(f('dirty.vhdx'), f('replayed/dirty.vhdx'));
  qemuImg('check', '-r', 'all', f('replayed/dirty.vhdx'));
  fixtures.push({ name: 'dirty.vhdx', file: f('dirty.vhdx'), replayed: f('replayed/dirty.vhdx') });
  return fixtures;
}

let cached: VhdxFixture[] | undefined;
export function vhdxFixtures(): VhdxFixture[] {
  return (cached ??= cachedFixtures('diskimg-vhdx', import.meta.url, build));
}
