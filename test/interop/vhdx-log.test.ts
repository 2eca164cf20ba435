/**
 * A VHDX log written by hand — several entries, zero and data descriptors, a last file offset
 * past the end of the file — replayed by us in memory and by qemu-img (check -r all, on a copy):
 * the disks must be the same, and the input must stay untouched.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { diskimg, firstDifference } from './support.ts';
import { stampCrc } from './vhdx-fixtures.ts';

const MiB = 1024 * 1024;
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskimg-vhdx-log-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function read(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  const out = Buffer.alloc(length);
  readSync(fd, out, 0, length, offset);
  closeSync(fd);
  return out;
}
function write(file: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(file, 'r+');
  writeSync(fd, bytes, 0, bytes.length, offset);
  closeSync(fd);
}

/** One log entry: its descriptors (zero runs and 4 KiB data sectors), checksummed. */
function entry(
  guid: Buffer,
  seq: bigint,
  fileSize: number,
  lastFileOffset: number,
  writes: Array<{ at: number; zero?: number; data?: Buffer }>,
): Buffer {
  const descSectors = Math.ceil((writes.length + 2) / 128);
  const data = writes.filter((w) => w.data);
  const out = Buffer.alloc((descSectors + data.length) * 4096);
  out.write('loge', 0, 'latin1');
  out.writeUInt32LE(out.length, 8);
  out.writeBigUInt64LE(seq, 16);
  out.writeUInt32LE(writes.length, 24);
  guid.copy(out, 32);
  out.writeBigUInt64LE(BigInt(fileSize), 48);
  out.writeBigUInt64LE(BigInt(lastFileOffset), 56);
  let sector = descSectors;
  writes.forEach((w, i) => {
    const d = 64 + i * 32;
    if (w.zero !== undefined) {
      out.write('zero', d, 'latin1');
      out.writeBigUInt64LE(BigInt(w.zero), d + 8);
    } else {
      out.write('desc', d, 'latin1');
      w.data!.copy(out, d + 4, 4092, 4096); // trailing bytes
      w.data!.copy(out, d + 8, 0, 8); // leading bytes
      const s = sector++ * 4096;
      out.write('data', s, 'latin1');
      out.writeUInt32LE(Number(seq >> 32n), s + 4);
      w.data!.copy(out, s + 8, 8, 4092);
      out.writeUInt32LE(Number(seq & 0xffffffffn), s + 4092);
    }
    out.writeBigUInt64LE(BigInt(w.at), d + 16);
    out.writeBigUInt64LE(seq, d + 24);
  });
  stampCrc(out, 4);
  return out;
}

it('replays zero and data descriptors over several entries as qemu-img does', async () => {
  const file = join(dir, 'hand.vhdx');
  execFileSync('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', 'block_size=1M', file, '6M']);
  execFileSync('qemu-io', ['-f', 'vhdx', '-c', 'write -P 7 0 2M', file], { stdio: 'ignore' });
  // qemu-img's layout: log at 1 MiB, data blocks from 4 MiB (block 0 there, block 1 after it).
  const bat = read(file, 2 * MiB, 16);
  const block0 = Number(bat.readBigUInt64LE(0) & ~0xfffffn);
  const block1 = Number(bat.readBigUInt64LE(8) & ~0xfffffn);
  const size = statSync(file).size;
  const guid = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const pattern = (seed: number) => Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * seed + 11) & 0xff));
  const first = entry(guid, 5n, size, size, [
    { at: block0 + 8192, zero: 3 * 4096 },
    { at: block1 + 4096, data: pattern(3) },
  ]);
  // The second entry names a last file offset past the end, not a whole MiB: the file grows.
  const second = entry(guid, 6n, size, size + MiB + 4096, [
    { at: block1 + 4096, data: pattern(5) },
    { at: block0, data: pattern(9) },
    { at: block1 + 65536, zero: 8192 },
  ]);
  write(file, MiB, Buffer.concat([first, second]));
  for (const at of [64 * 1024, 128 * 1024]) {
    const h = read(file, at, 4096);
    guid.copy(h, 48);
    stampCrc(h, 4);
    write(file, at, h);
  }
  const before = readFileSync(file);
  const replayed = join(dir, 'replayed.vhdx');
  copyFileSync(file, replayed);
  execFileSync('qemu-img', ['check', '-q', '-r', 'all', replayed]);
  execFileSync('qemu-img', ['convert', '-O', 'raw', replayed, join(dir, 'qemu.raw')]);
  const run = await diskimg('convert', '-O', 'raw', file, join(dir, 'ours.raw'));
  expect(run).toMatchObject({ code: 0, stderr: '' });
  expect(firstDifference(join(dir, 'ours.raw'), join(dir, 'qemu.raw'))).toBeNull();
  // The replay did something, and nothing was written to the input.
  expect(
    readFileSync(join(dir, 'qemu.raw'))
      .subarray(MiB + 4096, MiB + 8192)
      .equals(pattern(5)),
  ).toBe(true);
  expect(readFileSync(file).equals(before)).toBe(true);
  const info = JSON.parse((await diskimg('info', '--output=json', file)).stdout);
  expect(info['virtual-size']).toBe(6 * MiB);
});
