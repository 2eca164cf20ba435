/**
 * Small raw files with no partition table: a GPT header LBA past the end of the disk is no GPT
 * signature. 2560 zero bytes or 1 KiB of noise once read as "a GPT signature was found but
 * neither header is usable" (LBA 1 at 4096-byte sectors lies past their end).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectPartitions, type GuestReader } from '../../src/core/partitions/index.ts';
import { diskimg, qemuImg } from '../interop/support.ts';

function memory(bytes: Uint8Array): GuestReader {
  return {
    virtualSize: bytes.length,
    async read(offset: number, length: number) {
      const out = new Uint8Array(length);
      out.set(bytes.subarray(offset, Math.min(offset + length, bytes.length)));
      return out;
    },
  };
}

describe('small raw files without a partition table', () => {
  for (const [what, bytes] of [
    ['2560 zero bytes', new Uint8Array(2560)],
    ['1 KiB of random bytes', new Uint8Array(randomBytes(1024))],
    ['4 KiB of random bytes', new Uint8Array(randomBytes(4096))],
    ['8191 zero bytes', new Uint8Array(8191)],
    ['513 zero bytes', new Uint8Array(513)],
  ] as const) {
    it(`${what}: no partitions and no GPT warning`, async () => {
      const report = await detectPartitions(memory(bytes));
      expect(report).toEqual({ scheme: 'none', partitions: [] });
    });
  }

  it('a real "EFI PART" with a broken CRC is still reported as a damaged GPT', async () => {
    const bytes = new Uint8Array(8192);
    bytes.set(new TextEncoder().encode('EFI PART'), 512);
    new DataView(bytes.buffer).setUint32(512 + 12, 92, true);
    const report = await detectPartitions(memory(bytes));
    expect(report.warnings?.at(-1)).toBe('a GPT signature was found but neither header is usable');
    expect(report.warnings?.[0]).toMatch(/primary GPT header: header CRC32 mismatch at LBA 1/);
  });
});

it('diskimg info on such files prints exactly what qemu-img info prints (no Partitions section)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'diskimg-small-raw-'));
  try {
    for (const [name, bytes] of [
      ['zeros.raw', Buffer.alloc(2560)],
      ['noise.raw', randomBytes(1024)],
    ] as const) {
      const file = join(dir, name);
      writeFileSync(file, bytes);
      for (const output of ['human', 'json']) {
        const ours = await diskimg('info', `--output=${output}`, file);
        expect(ours.stdout).toBe(qemuImg('info', `--output=${output}`, file).stdout);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
