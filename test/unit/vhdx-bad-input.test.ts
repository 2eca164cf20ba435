/**
 * Every check the VHDX reader makes, each with a bad input: real qemu-img images damaged in a copy.
 * Where qemu-img has its own words for the damage, ours are the same.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copy, open, qemuImg, qemuImgError, scratchDir, readFailure } from '../support/qemu.ts';
import { stampCrc, unflushLastLogEntry } from '../interop/vhdx-fixtures.ts';
import { diskimg, qemuImg as qemuRun } from '../interop/support.ts';

const MiB = 1024 * 1024;
let dir: string;
let plain: string; // dynamic, 1 MiB blocks, 8 MiB, blocks 0–2 written
let dirty: string; // a log to replay
const qemuIo = (file: string, ...commands: string[]) =>
  execFileSync('qemu-io', ['-f', 'vhdx', ...commands.flatMap((c) => ['-c', c]), file], { stdio: 'ignore' });

function read(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  const out = Buffer.alloc(length);
  readSync(fd, out, 0, length, offset);
  closeSync(fd);
  return out;
}
function write(file: string, offset: number, data: Uint8Array | number[]): void {
  const bytes = Uint8Array.from(data);
  const fd = openSync(file, 'r+');
  writeSync(fd, bytes, 0, bytes.length, offset);
  closeSync(fd);
}
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};
const u64 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
};
/** Changes a 4 KiB header (or the 64 KiB region table) and stamps its checksum again. */
function patchSummed(file: string, at: number, size: number, edit: (b: Buffer) => void): void {
  const b = read(file, at, size);
  edit(b);
  stampCrc(b, 4);
  write(file, at, b);
}
const HEADERS = [64 * 1024, 128 * 1024];
const REGION_TABLE = 192 * 1024;
// qemu-img's layout for these images: log at 1 MiB, BAT at 2 MiB, metadata at 3 MiB (items from +64 KiB).
const BAT = 2 * MiB;
const METADATA = 3 * MiB;
const ITEM = { params: METADATA + 65536, size: METADATA + 65544, logical: METADATA + 65568 };

beforeAll(() => {
  dir = scratchDir('diskimg-vhdx-bad-');
  plain = join(dir, 'plain.vhdx');
  qemuImg('create', '-q', '-f', 'vhdx', '-o', 'block_size=1M', plain, '8M');
  qemuIo(plain, 'write -P 1 0 3M');
  dirty = join(dir, 'dirty.vhdx');
  qemuImg('create', '-q', '-f', 'vhdx', '-o', 'block_size=1M', dirty, '8M');
  qemuIo(dirty, 'write -P 2 0 1M');
  copy(dirty, join(dir, 'dirty-before.vhdx'));
  qemuIo(dirty, 'write -P 3 2M 4k');
  unflushLastLogEntry(dirty, join(dir, 'dirty-before.vhdx'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const damaged = (from = plain) => copy(from, join(dir, `bad-${n++}.vhdx`));

/** Opens and reads the whole image, returning the error it fails with. */

/** qemu-img's first line of complaint about the file. */
const qemuSays = (file: string) => qemuImgError('info', file).split('\n')[0];

describe('the header section', () => {
  it('refuses a file without the vhdxfile signature (forced as vhdx)', async () => {
    const file = damaged();
    write(file, 0, Buffer.from('vhdxfilf'));
    const error = await readFailure(file, { format: 'vhdx' });
    expect(error).toMatchObject({ kind: 'invalid-format', context: { field: 'signature', offset: 0 } });
  });

  it("refuses two headers that fail their checksums with qemu-img's words", async () => {
    const file = damaged();
    for (const at of HEADERS) write(file, at + 20, [0xff]);
    const error = await readFailure(file);
    expect(error).toMatchObject({ kind: 'corrupt', message: 'No valid VHDX header found', context: { field: 'header' } });
    expect(qemuSays(file)).toContain('No valid VHDX header found');
  });

  it('takes the other header when one fails its checksum, and the one with the higher sequence number', async () => {
    for (const bad of HEADERS) {
      const file = damaged();
      write(file, bad + 20, [0xff]);
      const image = await open(file);
      await image.close();
    }
  });

  it('refuses two valid headers with one sequence number that differ', async () => {
    const file = damaged();
    const seq = read(file, HEADERS[0] + 8, 8).readBigUInt64LE(0);
    patchSummed(file, HEADERS[1], 4096, (b) => {
      b.writeBigUInt64LE(seq, 8);
      b[20] ^= 1;
    });
    expect((await readFailure(file)).message).toBe('No valid VHDX header found');
  });

  it('refuses a log offset inside the header section and a log version other than 0', async () => {
    let file = damaged();
    for (const at of HEADERS) patchSummed(file, at, 4096, (b) => b.writeBigUInt64LE(4096n, 72));
    expect(await readFailure(file)).toMatchObject({ kind: 'invalid-format', context: { field: 'log offset', value: 4096 } });
    file = damaged();
    for (const at of HEADERS) patchSummed(file, at, 4096, (b) => b.writeUInt16LE(1, 64));
    expect(await readFailure(file)).toMatchObject({ kind: 'unsupported', context: { field: 'log version', value: 1 } });
  });
});

describe('the region table', () => {
  it('reads the copy when the first table fails its checksum, and refuses both bad', async () => {
    const file = damaged();
    write(file, REGION_TABLE + 100, [0xff]);
    const image = await open(file);
    await image.close();
    write(file, REGION_TABLE + 64 * 1024 + 100, [0xff]);
    expect(await readFailure(file)).toMatchObject({ kind: 'invalid-format', context: { field: 'region table', offset: REGION_TABLE } });
  });

  it('refuses more than 2047 entries, a required region of unknown type, a missing BAT and overlapping regions', async () => {
    const both = (file: string, edit: (b: Buffer) => void) => {
      for (const at of [REGION_TABLE, REGION_TABLE + 64 * 1024]) patchSummed(file, at, 64 * 1024, edit);
    };
    let file = damaged();
    both(file, (b) => b.writeUInt32LE(2048, 8));
    expect(await readFailure(file)).toMatchObject({ kind: 'invalid-format', context: { field: 'region table entry count', value: 2048 } });
    file = damaged();
    both(file, (b) => {
      b[16] ^= 0xff; // the BAT entry's GUID: now unknown…
      b.writeUInt32LE(1, 16 + 28); // …and required
    });
    expect(await readFailure(file)).toMatchObject({ kind: 'unsupported', context: { field: 'region table entry 0' } });
    file = damaged();
    both(file, (b) => (b[16] ^= 0xff));
    expect(await readFailure(file)).toMatchObject({ kind: 'invalid-format', message: 'VHDX: the region table has no BAT' });
    file = damaged();
    both(file, (b) => b.writeBigUInt64LE(BigInt(MiB), 16 + 16)); // the BAT over the log
    const overlap = await readFailure(file);
    expect(overlap).toMatchObject({ kind: 'corrupt', context: { field: 'region table entry 0' } });
    expect(`qemu-img: ${overlap.message}`).toBe(qemuSays(file));
  });
});

describe('the metadata', () => {
  it('refuses a bad signature, too many entries, a duplicate, a missing item and an unknown required one', async () => {
    let file = damaged();
    write(file, METADATA, Buffer.from('metadatx'));
    expect(await readFailure(file)).toMatchObject({ kind: 'invalid-format', context: { field: 'metadata table', offset: METADATA } });
    file = damaged();
    write(file, METADATA + 10, [0x00, 0x08]);
    expect(await readFailure(file)).toMatchObject({ kind: 'invalid-format', context: { field: 'metadata entry count', value: 2048 } });
    file = damaged();
    write(file, METADATA + 64, read(file, METADATA + 32, 16)); // entry 1 becomes a second file parameters
    expect(await readFailure(file)).toMatchObject({ kind: 'invalid-format', context: { field: 'metadata entry 1' } });
    file = damaged();
    write(file, METADATA + 64, [0xee]); // entry 1 (virtual disk size) becomes unknown, still required
    expect(await readFailure(file)).toMatchObject({ kind: 'unsupported', context: { field: 'metadata entry 1' } });
    file = damaged();
    write(file, METADATA + 64, [0xee]);
    write(file, METADATA + 64 + 24, u32(0)); // …not required: then the size is missing
    expect(await readFailure(file)).toMatchObject({ kind: 'unsupported', context: { field: 'virtual disk size' } });
  });

  it('refuses block sizes and logical sector sizes qemu refuses', async () => {
    for (const size of [512 * 1024, 3 * MiB, 512 * MiB]) {
      const file = damaged();
      write(file, ITEM.params, u32(size));
      expect(await readFailure(file)).toMatchObject({ kind: 'invalid-format', context: { field: 'block size', value: size } });
      expect(qemuSays(file)).toContain('Invalid argument');
    }
    const file = damaged();
    write(file, ITEM.logical, u32(1024));
    expect(await readFailure(file)).toMatchObject({ kind: 'invalid-format', context: { field: 'logical sector size', value: 1024 } });
  });

  it('refuses a parent without a locator, and a disk too big for any BAT', async () => {
    let file = damaged();
    write(file, ITEM.params + 4, u32(2));
    expect(await readFailure(file)).toMatchObject({ kind: 'invalid-format', context: { field: 'file parameters' } });
    file = damaged();
    write(file, ITEM.size, u64(1n << 60n));
    expect((await readFailure(file)).kind).toBe('limit');
    file = damaged();
    write(file, ITEM.size, u64(1n << 50n)); // 2^30 blocks: the BAT region (1 MiB) cannot hold them
    expect(await readFailure(file)).toMatchObject({ kind: 'corrupt', context: { field: 'BAT region length' } });
  });
});

describe('the BAT', () => {
  it("refuses blocks past the end of the file with qemu-img's words, and check counts them as qemu-img does", async () => {
    const file = damaged();
    truncateSync(file, 5 * MiB);
    const error = await readFailure(file);
    expect(error).toMatchObject({ kind: 'corrupt', context: { field: 'BAT entry', offset: BAT, value: 0 } });
    expect(`qemu-img: ${error.message}`).toBe(qemuSays(file));
    const partial = damaged();
    truncateSync(partial, 8 * MiB + 100);
    expect(`qemu-img: ${(await readFailure(partial)).message}`).toBe(qemuSays(partial));
  });

  it('checks a damaged BAT as qemu-img check does: the same lines, counts and exit code', async () => {
    const truncated = damaged();
    truncateSync(truncated, 5 * MiB);
    const overlapping = damaged();
    write(overlapping, BAT + 8, u64(BigInt(METADATA) | 6n));
    for (const file of [truncated, overlapping]) {
      for (const flags of [[], ['--output=json']]) {
        const expected = qemuRun('check', ...flags, file);
        const run = await diskimg('check', ...flags, file);
        expect(run.stdout).toBe(expected.stdout);
        expect(run.stderr).toBe(expected.stderr);
        expect(run.code).toBe(expected.code);
      }
    }
  });

  it('refuses a block over the metadata region, and a present block at offset 0', async () => {
    let file = damaged();
    write(file, BAT, u64(BigInt(METADATA) | 6n));
    const overlap = await readFailure(file);
    expect(overlap).toMatchObject({ kind: 'corrupt', context: { field: 'BAT entry', value: 0 } });
    expect(`qemu-img: ${overlap.message}`).toBe(qemuSays(file));
    file = damaged();
    write(file, BAT, u64(6n));
    expect(await readFailure(file)).toMatchObject({ kind: 'corrupt', context: { field: 'BAT entry', offset: BAT } });
  });

  it('fails reading a partially present block in a disk without a parent, or a block of unknown state', async () => {
    for (const state of [7n, 4n]) {
      const file = damaged();
      write(file, BAT + 8, u64((9n << 20n) | state));
      const error = await readFailure(file);
      expect(error).toMatchObject({ kind: 'corrupt', context: { field: 'BAT entry', offset: BAT + 8, value: Number(state) } });
    }
  });
});

describe('the log', () => {
  const logEntry = MiB; // qemu-img's log offset

  it('refuses a log entry with an invalid descriptor', async () => {
    const file = damaged(dirty);
    write(file, logEntry + 64, Buffer.from('dese'));
    expect(await readFailure(file)).toMatchObject({ kind: 'corrupt', context: { field: 'log descriptor' } });
  });

  it('refuses a log written for a longer file (truncated)', async () => {
    const file = damaged(dirty);
    truncateSync(file, 4 * MiB);
    expect(await readFailure(file)).toMatchObject({ kind: 'corrupt', context: { field: 'log flushed file offset', offset: logEntry } });
  });

  it("refuses a data sector whose sequence number is not its descriptor's", async () => {
    const file = damaged(dirty);
    const entry = read(file, logEntry, 8192);
    entry.writeUInt32LE(entry.readUInt32LE(4096 + 4092) + 1, 4096 + 4092);
    stampCrc(entry, 4);
    write(file, logEntry, entry);
    expect(await readFailure(file)).toMatchObject({ kind: 'corrupt', context: { field: 'log data sector' } });
  });

  it('ignores a log entry whose checksum is wrong (nothing to replay)', async () => {
    const file = damaged(dirty);
    write(file, logEntry + 4096 + 100, [0x55]);
    const image = await open(file);
    await image.close();
  });
});
