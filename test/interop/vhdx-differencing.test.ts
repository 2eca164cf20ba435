/**
 * What qemu cannot read, checked against what it can: a differencing VHDX (made from a qemu-img
 * image by giving it a parent locator, a sector bitmap and every payload block state) must read as
 * its blocks say — this file, the parent, or zeros, sector by sector where partially present —
 * and a VHDX with 4096-byte logical sectors as the same image with 512-byte ones.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskimg } from './support.ts';

const MiB = 1024 * 1024;
let dir: string;
const f = (name: string) => join(dir, name);
const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
const qemuIo = (file: string, ...commands: string[]) =>
  execFileSync('qemu-io', ['-f', 'vhdx', ...commands.flatMap((c) => ['-c', c]), file], { cwd: dir, stdio: 'ignore' });

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

/** The GUID's on-disk bytes (first three groups little-endian). */
function guidBytes(text: string): Buffer {
  const h = text.replace(/-/g, '');
  const b = Buffer.from(h, 'hex');
  return Buffer.concat([
    Buffer.from(b.subarray(0, 4)).reverse(),
    Buffer.from(b.subarray(4, 6)).reverse(),
    Buffer.from(b.subarray(6, 8)).reverse(),
    b.subarray(8),
  ]);
}

interface Layout {
  bat: number;
  metadata: number;
  /** Metadata items by GUID: their offsets in the file. */
  items: Map<string, number>;
  count: number;
}

function layout(file: string): Layout {
  const rt = read(file, 192 * 1024, 4096);
  let bat = 0;
  let metadata = 0;
  for (let i = 0; i < rt.readUInt32LE(8); i++) {
    const e = 16 + i * 32;
    const guid = rt.subarray(e, e + 16).toString('hex');
    const offset = Number(rt.readBigUInt64LE(e + 16));
    if (guid === guidBytes('2dc27766-f623-4200-9d64-115e9bfd4a08').toString('hex')) bat = offset;
    else metadata = offset;
  }
  const table = read(file, metadata, 64 * 1024);
  const count = table.readUInt16LE(10);
  const items = new Map<string, number>();
  for (let i = 0; i < count; i++)
    items.set(table.subarray(32 + i * 32, 48 + i * 32).toString('hex'), metadata + table.readUInt32LE(48 + i * 32));
  return { bat, metadata, items, count };
}

const FILE_PARAMETERS = guidBytes('caa16737-fa36-4d43-b3b6-33f0aa44e76b').toString('hex');
const LOGICAL_SECTOR = guidBytes('8141bf1d-a96f-4709-ba47-f233a8faab5f').toString('hex');

function setLogicalSectorSize(file: string, size: number): void {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(size);
  write(file, layout(file).items.get(LOGICAL_SECTOR)!, b);
}

/** Adds a parent locator naming `parent` and sets has_parent. */
function makeDifferencing(file: string, parent: string): void {
  const l = layout(file);
  const params = read(file, l.items.get(FILE_PARAMETERS)!, 8);
  params.writeUInt32LE(params.readUInt32LE(4) | 2, 4);
  write(file, l.items.get(FILE_PARAMETERS)!, params);
  const pairs: Array<[string, string]> = [
    ['parent_linkage', '{00000000-0000-0000-0000-000000000001}'],
    ['relative_path', `.\\${parent}`],
    ['absolute_win32_path', `C:\\vms\\${parent}`],
  ];
  const head = Buffer.alloc(20 + pairs.length * 12);
  guidBytes('b04aefb7-d19e-4a81-b789-25b8e9445913').copy(head, 0);
  head.writeUInt16LE(pairs.length, 18);
  const strings: Buffer[] = [];
  let at = head.length;
  pairs.forEach(([key, value], i) => {
    const k = Buffer.from(key, 'utf16le');
    const v = Buffer.from(value, 'utf16le');
    head.writeUInt32LE(at, 20 + i * 12);
    head.writeUInt32LE(at + k.length, 24 + i * 12);
    head.writeUInt16LE(k.length, 28 + i * 12);
    head.writeUInt16LE(v.length, 30 + i * 12);
    strings.push(k, v);
    at += k.length + v.length;
  });
  const locator = Buffer.concat([head, ...strings]);
  const itemOffset = 64 * 1024 + 8192;
  write(file, l.metadata + itemOffset, locator);
  const entry = Buffer.alloc(32);
  guidBytes('a8d35f2d-b30b-454d-abf7-d3d84834ab0c').copy(entry, 0);
  entry.writeUInt32LE(itemOffset, 16);
  entry.writeUInt32LE(locator.length, 20);
  entry.writeUInt32LE(6, 24);
  write(file, l.metadata + 32 + l.count * 32, entry);
  const count = Buffer.alloc(2);
  count.writeUInt16LE(l.count + 1);
  write(file, l.metadata + 10, count);
}

function setBat(file: string, index: number, state: number, offset?: number): void {
  const l = layout(file);
  const old = read(file, l.bat + index * 8, 8).readBigUInt64LE(0);
  const base = offset === undefined ? old & ~0xfffffn : BigInt(offset);
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(base | BigInt(state));
  write(file, l.bat + index * 8, b);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskimg-vhdx-diff-'));
});
afterAll(() => (process.env.KEEP ? undefined : rmSync(dir, { recursive: true, force: true })));

describe.each([512, 4096])('a differencing VHDX with %i-byte logical sectors', (sector) => {
  it('reads each block from itself, its parent or zeros as its BAT and sector bitmap say', async () => {
    const parent = `parent-${sector}.vhdx`;
    const child = `child-${sector}.vhdx`;
    qemuImg('create', '-f', 'vhdx', '-o', 'block_size=1M', f(parent), '8M');
    qemuIo(f(parent), 'write -P 51 0 8M');
    qemuImg('create', '-f', 'vhdx', '-o', 'block_size=1M', f(child), '8M');
    // Blocks 0 and 2 get data (block 2 only partly), block 6 too (then made unmapped).
    qemuIo(f(child), 'write -P 52 0 1M', 'write -P 53 2M 1M', 'write -P 54 6M 1M');
    qemuImg('convert', '-O', 'raw', f(parent), f('parent.raw'));
    qemuImg('convert', '-O', 'raw', f(child), f('child.raw'));
    if (sector === 4096) {
      setLogicalSectorSize(f(parent), 4096);
      setLogicalSectorSize(f(child), 4096);
    }
    makeDifferencing(f(child), parent);
    const chunkRatio = (2 ** 23 * sector) / MiB;
    // The sector bitmap of chunk 0, at the end of the file: sectors 0..7 and 16..23 of block 2 (and nothing else) are in the child.
    const bitmapAt = Math.ceil(statSync(f(child)).size / MiB) * MiB;
    const bitmap = Buffer.alloc(MiB);
    const perBlock = MiB / sector / 8;
    bitmap[2 * perBlock] = 0xff;
    bitmap[2 * perBlock + 2] = 0xff;
    write(f(child), bitmapAt, bitmap);
    setBat(f(child), chunkRatio, 6, bitmapAt);
    setBat(f(child), 2, 7); // partially present
    setBat(f(child), 3, 2, 0); // zero
    setBat(f(child), 4, 1, 0); // undefined: the parent's
    setBat(f(child), 6, 3); // unmapped: zeros
    // qemu-img made the others ZERO (block_state_zero): not present, they are the parent's.
    for (const block of [1, 5, 7]) setBat(f(child), block, 0, 0);

    const parentRaw = readFileSync(f('parent.raw'));
    const childRaw = readFileSync(f('child.raw'));
    const expected = Buffer.from(parentRaw);
    childRaw.copy(expected, 0, 0, MiB);
    for (const s of [...Array(8).keys(), ...Array.from({ length: 8 }, (_, i) => 16 + i)])
      childRaw.copy(expected, 2 * MiB + s * sector, 2 * MiB + s * sector, 2 * MiB + (s + 1) * sector);
    expected.fill(0, 3 * MiB, 4 * MiB);
    expected.fill(0, 6 * MiB, 7 * MiB);

    const run = await diskimg('convert', '-O', 'raw', f(child), f('ours.raw'));
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const ours = readFileSync(f('ours.raw'));
    expect(ours.length).toBe(expected.length);
    expect(ours.findIndex((b, i) => b !== expected[i])).toBe(-1);

    const info = JSON.parse((await diskimg('info', '--output=json', f(child))).stdout);
    expect(info).toMatchObject({
      format: 'vhdx',
      'backing-filename': parent,
      'full-backing-filename': f(parent),
      'backing-filename-format': 'vhdx',
      'cluster-size': MiB,
    });
    const chain = JSON.parse((await diskimg('info', '--output=json', '--backing-chain', f(child))).stdout);
    expect(chain.map((i: { filename: string }) => i.filename)).toEqual([f(child), f(parent)]);
  });
});

describe('a VHDX with 4096-byte logical sectors (qemu refuses it)', () => {
  it('reads as the same image with 512-byte sectors', async () => {
    qemuImg('create', '-f', 'vhdx', '-o', 'block_size=2M', f('s512.vhdx'), '9M');
    qemuIo(f('s512.vhdx'), 'write -P 61 4k 12k', 'write -P 62 5M 1M', 'write -z 6M 4k');
    copyFileSync(f('s512.vhdx'), f('s4k.vhdx'));
    setLogicalSectorSize(f('s4k.vhdx'), 4096);
    qemuImg('convert', '-O', 'raw', f('s512.vhdx'), f('s512.raw'));
    expect((await diskimg('convert', '-O', 'raw', f('s4k.vhdx'), f('s4k.raw'))).code).toBe(0);
    expect(readFileSync(f('s4k.raw')).equals(readFileSync(f('s512.raw')))).toBe(true);
  });
});
