/**
 * qcow (version 1) images qemu-img made, damaged in a copy: every check the reader makes, with
 * qemu-img's message where qemu-img refuses the same damage.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { be32, be64, copy, qemuImg, scratchDir, readFailure } from '../support/qemu.ts';
import { diskimg, firstDifference, qemuImg as qemuImgRun } from '../interop/support.ts';
import { patch, qemuIoFormat, qemuOpenMessage } from './small-formats-bad-input-support.ts';

let dir: string;
let plain: string; // 4 MiB, 4 KiB clusters: L1 at 48, L2 at 0x1000, data from 0x2000
let compressed: string;
const L2 = 0x1000;

beforeAll(() => {
  dir = scratchDir();
  plain = join(dir, 'plain.qcow');
  qemuImg('create', '-q', '-f', 'qcow', plain, '4M');
  qemuIoFormat('qcow', plain, 'write -P 1 0 64k');
  const text = join(dir, 'text.raw');
  writeFileSync(text, Buffer.from('hello qcow '.repeat(100_000)).subarray(0, 1 << 20));
  compressed = join(dir, 'compressed.qcow');
  try {
    qemuImg('convert', '-q', '-c', '-f', 'raw', '-O', 'qcow', text, compressed);
  } catch {
    // qemu-img 7.2 exits 1 after writing the whole image (its end-of-stream write is refused).
  }
});

let n = 0;
function damaged(offset: number, bytes: number[], from = plain): string {
  const file = copy(from, join(dir, `bad${n++}.qcow`));
  patch(file, offset, bytes);
  return file;
}

describe('qcow header checks, with qemu-img messages', () => {
  const cases: Array<[string, number, number[], string, string]> = [
    ['a bad magic', 0, be32(0x12345678), 'invalid-format', 'magic'],
    ['version 2', 4, be32(2), 'unsupported', 'version'],
    ['version 7', 4, be32(7), 'unsupported', 'version'],
    ['a size of 1 byte', 24, be64(1n), 'invalid-format', 'size'],
    ['256-byte clusters', 32, [8], 'invalid-format', 'cluster_bits'],
    ['128 KiB clusters', 32, [17], 'invalid-format', 'cluster_bits'],
    ['256-byte L2 tables', 33, [5], 'invalid-format', 'l2_bits'],
    ['128 KiB L2 tables', 33, [14], 'invalid-format', 'l2_bits'],
    ['an unknown encryption method', 36, be32(2), 'unsupported', 'crypt_method'],
    ['a size whose L1 table passes 2 GiB', 24, be64(1n << 60n), 'limit', 'size'],
    ['a size that wraps', 24, be64(0xffff_ffff_ffff_fe00n), 'limit', 'size'],
    ['a backing file name of 1 KiB', 8, [...be64(48n), ...be32(1024)], 'limit', 'backing_file_size'],
  ];
  for (const [what, offset, bytes, kind, field] of cases) {
    it(`refuses ${what}`, async () => {
      const file = damaged(offset, bytes);
      const error = await readFailure(file, { format: 'qcow' });
      expect(error.kind).toBe(kind);
      expect(error.context.field).toBe(field);
      expect(error.message).toBe(qemuOpenMessage(file, 'qcow'));
    });
  }

  it('takes sizes only up to 2^53 (qemu takes up to 2^57)', async () => {
    const error = await readFailure(damaged(24, be64(1n << 54n)), { format: 'qcow' });
    expect(error).toMatchObject({ kind: 'limit', message: 'Image too large', context: { field: 'size' } });
  });

  it('refuses to read an encrypted image without its passphrase, saying so', async () => {
    const error = await readFailure(damaged(36, be32(1)));
    expect(error.kind).toBe('needs-passphrase');
    expect(error.message).toBe('The image is encrypted (aes): its passphrase is needed to read it');
  });
});

describe('qcow table entries', () => {
  it('reads an L1 table past the end of the file as unallocated, as qemu-img does', async () => {
    const file = damaged(40, be64(1n << 40n));
    expect((await diskimg('map', '--output=json', file)).stdout).toBe(qemuImgRun('map', '--output=json', file).stdout);
    const ours = join(dir, 'l1.ours.raw');
    const theirs = join(dir, 'l1.qemu.raw');
    qemuImg('convert', '-O', 'raw', file, theirs);
    expect((await diskimg('convert', '-O', 'raw', file, ours)).code).toBe(0);
    expect(firstDifference(ours, theirs)).toBeNull();
  });

  it('reads an L2 table past the end of the file as unallocated, as qemu-img does', async () => {
    const file = damaged(48, be64(1n << 60n));
    expect((await diskimg('map', '--output=json', file)).stdout).toBe(qemuImgRun('map', '--output=json', file).stdout);
  });

  it('refuses a data cluster offset past 2^53, naming the L2 entry', async () => {
    const error = await readFailure(damaged(L2 + 8, be64(1n << 60n)));
    expect(error).toMatchObject({ kind: 'corrupt', context: { field: 'L2 entry', offset: L2 + 8 } });
  });

  it('refuses a data cluster that is not sector-aligned (qemu-img: EIO)', async () => {
    const error = await readFailure(damaged(L2 + 8, be64(0x2001n)));
    expect(error).toMatchObject({ kind: 'corrupt', context: { field: 'L2 entry' } });
    expect(error.message).toMatch(/qcow data cluster at host offset 0x2001 \(guest offset 0x1000\) is not sector-aligned/);
    expect(qemuImgRun('convert', '-O', 'raw', damaged(L2 + 8, be64(0x2001n)), join(dir, 'eio.raw')).code).toBe(1);
  });

  it('says which compressed cluster does not decompress', async () => {
    const file = copy(compressed, join(dir, `garbage${n++}.qcow`));
    const entry = (await import('node:fs')).readFileSync(file).readBigUInt64BE(0x1000);
    const host = Number(entry & ((1n << 51n) - 1n));
    patch(file, host, Array(64).fill(0xff));
    const error = await readFailure(file);
    expect(error).toMatchObject({ kind: 'corrupt', context: { field: 'compressed cluster', offset: host } });
    expect(error.message).toBe(
      `qcow compressed cluster at host offset 0x${host.toString(16)} (guest offset 0x0) does not decompress to 4096 bytes`,
    );
    expect(qemuImgRun('convert', '-O', 'raw', file, join(dir, 'garbage.raw')).code).toBe(1);
  });

  it('says which backing file is missing', async () => {
    const file = join(dir, 'orphan.qcow');
    qemuImg('create', '-q', '-u', '-f', 'qcow', '-b', 'gone.raw', '-F', 'raw', file, '1M');
    const error = await readFailure(file);
    expect(error.kind).toBe('not-found');
    expect(error.message).toMatch(/Could not open backing file: Could not open '.*gone.raw': No such file or directory/);
  });
});
