/**
 * VHDX seeds, made by qemu-img and qemu-io, then packed small: qemu-img puts the log, the BAT and
 * the metadata a MiB apart and data after 4 MiB; here the BAT and metadata move into the header
 * section's free space and the payload blocks follow from 1 MiB, so a seed is 1–2 MiB of tables
 * rather than megabytes of zeros (qemu-img reads the packed files as it read the originals).
 */
import { closeSync, copyFileSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { stampCrc, unflushLastLogEntry } from '../../interop/vhdx-fixtures.ts';
import { qemuImg, qemuIo, type RecipeBook } from './tools.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const BAT_AT = 384 * KiB;
const METADATA_AT = 512 * KiB;
const METADATA_LENGTH = 128 * KiB;
const BAT_GUID = '6677c22d23f600429d64115e9bfd4a08';

/** Packs a qemu-img VHDX (no log to replay unless `keepLog`) as the header says above. */
function pack(file: string, keepLog = false): void {
  const src = readFileSync(file);
  const out = Buffer.alloc(src.length);
  src.copy(out, 0, 0, 320 * KiB);
  let bat = 0;
  let metadata = 0;
  const rt = out.subarray(192 * KiB, 256 * KiB);
  for (let i = 0; i < rt.readUInt32LE(8); i++) {
    const e = 16 + i * 32;
    const isBat = rt.subarray(e, e + 16).toString('hex') === BAT_GUID;
    if (isBat) bat = Number(rt.readBigUInt64LE(e + 16));
    else metadata = Number(rt.readBigUInt64LE(e + 16));
    rt.writeBigUInt64LE(BigInt(isBat ? BAT_AT : METADATA_AT), e + 16);
    rt.writeUInt32LE(isBat ? METADATA_AT - BAT_AT : METADATA_LENGTH, e + 24);
  }
  stampCrc(rt, 4);
  rt.copy(out, 256 * KiB);
  src.copy(out, METADATA_AT, metadata, metadata + METADATA_LENGTH);
  const items = metadata + 64 * KiB;
  const blockSize = src.readUInt32LE(items);
  const virtualSize = Number(src.readBigUInt64LE(items + 8));
  const entries = Math.ceil(virtualSize / blockSize);
  let end = METADATA_AT + METADATA_LENGTH;
  let next = keepLog ? 2 * MiB : MiB;
  if (keepLog) {
    src.copy(out, MiB, MiB, 2 * MiB);
    end = 2 * MiB;
    // The entry was written for qemu's longer file: it must not look truncated.
    const entry = out.subarray(MiB, MiB + out.readUInt32LE(MiB + 8));
    entry.writeBigUInt64LE(BigInt(2 * MiB), 48);
    entry.writeBigUInt64LE(BigInt(2 * MiB), 56);
    stampCrc(entry, 4);
  }
  for (let i = 0; i < entries; i++) {
    const entry = src.readBigUInt64LE(bat + i * 8);
    const state = Number(entry & 7n);
    if (state !== 6) {
      out.writeBigUInt64LE(state === 2 ? 2n : entry & 7n, BAT_AT + i * 8);
      continue;
    }
    const from = Number(entry & ~0xfffffn);
    const length = Math.min(blockSize, virtualSize - i * blockSize);
    src.copy(out, next, from, from + length);
    out.writeBigUInt64LE(BigInt(next) | 6n, BAT_AT + i * 8);
    end = next + length;
    next += blockSize;
  }
  if (!keepLog) {
    for (const at of [64 * KiB, 128 * KiB]) {
      const h = out.subarray(at, at + 4 * KiB);
      h.writeUInt32LE(0, 68); // no log: the log's MiB is given to the payload
      stampCrc(h, 4);
    }
  }
  writeFileSync(file, out.subarray(0, end));
}

/** Sets the logical sector size (metadata items are not checksummed). */
function sector4k(file: string): void {
  const fd = openSync(file, 'r+');
  const b = Buffer.alloc(4);
  b.writeUInt32LE(4096);
  writeSync(fd, b, 0, 4, METADATA_AT + 64 * KiB + 32);
  closeSync(fd);
}

export const vhdxRecipes: RecipeBook = {
  url: import.meta.url,
  tools: ['qemu-img', 'qemu-io'],
  recipes: {
    'dynamic-1m.vhdx': (f) => {
      qemuImg('create', '-q', '-f', 'vhdx', '-o', 'block_size=1M', f, String(MiB + 64 * KiB));
      qemuIo('vhdx', f, 'write -P 1 0 4k', 'write -P 2 1M 8k', 'write -z 512k 4k');
      pack(f);
    },
    'zero-off.vhdx': (f) => {
      qemuImg('create', '-q', '-f', 'vhdx', '-o', 'block_size=1M,block_state_zero=off', f, '3M');
      qemuIo('vhdx', f, 'write -P 3 2M 4k');
      pack(f);
    },
    'fixed.vhdx': (f) => {
      qemuImg('create', '-q', '-f', 'vhdx', '-o', 'subformat=fixed,block_size=1M', f, '1M');
      qemuIo('vhdx', f, 'write -P 4 0 4k');
      pack(f);
    },
    'sector4k.vhdx': (f) => {
      qemuImg('create', '-q', '-f', 'vhdx', '-o', 'block_size=1M', f, String(MiB + 128 * KiB));
      qemuIo('vhdx', f, 'write -P 5 1M 64k');
      pack(f);
      sector4k(f);
    },
    'dirty-log.vhdx': (f) => {
      qemuImg('create', '-q', '-f', 'vhdx', '-o', 'block_size=1M', f, String(64 * KiB));
      copyFileSync(f, `${f}.before`);
      qemuIo('vhdx', f, 'write -P 6 0 4k');
      unflushLastLogEntry(f, `${f}.before`);
      rmSync(`${f}.before`);
      pack(f, true);
    },
  },
};
