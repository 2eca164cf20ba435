/**
 * QED images qemu-img made, damaged in a copy: every check the reader makes, with qemu-img's
 * message where qemu-img refuses the same damage, and check's counts as qemu-img gives them.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { copy, qemuImg, scratchDir, readFailure } from '../support/qemu.ts';
import { diskimg, qemuImg as qemuImgRun } from '../interop/support.ts';
import { le32, le64, patch, qemuIoFormat, qemuOpenMessage } from './small-formats-bad-input-support.ts';

let dir: string;
let plain: string; // 4 MiB, 64 KiB clusters; L1 at 64 KiB (4 clusters), data at 320 KiB (2 clusters), then L2
const L1 = 0x10000;
const L2 = 0x70000;

beforeAll(() => {
  dir = scratchDir();
  plain = join(dir, 'plain.qed');
  qemuImg('create', '-q', '-f', 'qed', plain, '4M');
  qemuIoFormat('qed', plain, 'write -P 1 0 128k');
});

let n = 0;
function damaged(offset: number, bytes: number[]): string {
  const file = copy(plain, join(dir, `bad${n++}.qed`));
  patch(file, offset, bytes);
  return file;
}

describe('QED header checks, with qemu-img messages', () => {
  const cases: Array<[string, number, number[], string, string]> = [
    ['a bad magic', 0, [0x51, 0x45, 0x44, 0x21], 'invalid-format', 'magic'],
    ['an unknown feature', 16, le64(0x10n), 'unsupported', 'features'],
    ['a cluster size that is not a power of two', 4, le32(65535), 'invalid-format', 'cluster_size'],
    ['a cluster size above 64 MiB', 4, le32(128 * 1024 * 1024), 'invalid-format', 'cluster_size'],
    ['a table size of 3', 8, le32(3), 'invalid-format', 'table_size'],
    ['an image size that is not whole sectors', 48, le64(1000n), 'invalid-format', 'image_size'],
    ['an image size past what the tables reach', 48, le64(1n << 50n), 'invalid-format', 'image_size'],
    ['an L1 table past the end of the file', 40, le64(1n << 30n), 'invalid-format', 'l1_table_offset'],
    ['an unaligned L1 table', 40, le64(0x10001n), 'invalid-format', 'l1_table_offset'],
    ['an L1 table inside the header', 12, le32(8), 'invalid-format', 'l1_table_offset'],
    ['a header size that overflows', 12, le32(0x10000), 'invalid-format', 'l1_table_offset'],
  ];
  for (const [what, offset, bytes, kind, field] of cases) {
    it(`refuses ${what}`, async () => {
      const file = damaged(offset, bytes);
      const error = await readFailure(file, { format: 'qed' });
      expect(error.kind).toBe(kind);
      expect(error.context.field).toBe(field);
      expect(error.message).toBe(qemuOpenMessage(file, 'qed'));
    });
  }

  it('refuses a backing file name outside the header', async () => {
    const file = damaged(16, le64(1n));
    patch(file, 56, [...le32(0xff00), ...le32(0x200)]);
    const error = await readFailure(file, { format: 'qed' });
    expect(error.context.field).toBe('backing_filename_offset');
    expect(error.message).toBe(qemuOpenMessage(file, 'qed'));
  });

  it('refuses a backing file name of 4 KiB or more', async () => {
    const file = damaged(12, le32(1));
    patch(file, 4, le32(1 << 20)); // 1 MiB clusters: the header cluster has room for the name
    patch(file, 40, le64(1n << 20n));
    appendFileSync(file, Buffer.alloc(8 << 20));
    patch(file, 16, le64(1n));
    patch(file, 56, [...le32(64), ...le32(5000)]);
    const error = await readFailure(file, { format: 'qed' });
    expect(error.kind).toBe('limit');
    expect(error.context.field).toBe('backing_filename_size');
    expect(qemuImgRun('info', '-f', 'qed', file).code).toBe(1);
  });

  it('refuses the table_size=1 images qemu-img makes but cannot open, as qemu-img does', async () => {
    const file = join(dir, 'table1.qed');
    qemuImg('create', '-q', '-f', 'qed', '-o', 'table_size=1', file, '1M');
    const error = await readFailure(file);
    expect(error.context.field).toBe('l1_table_offset');
    expect(error.message).toBe(qemuOpenMessage(file, 'qed'));
  });

  it('says which backing file is missing', async () => {
    const file = join(dir, 'orphan.qed');
    qemuImg('create', '-q', '-u', '-f', 'qed', '-b', 'gone.raw', '-F', 'raw', file, '1M');
    const error = await readFailure(file);
    expect(error.kind).toBe('not-found');
    expect(error.message).toMatch(/Could not open backing file: Could not open '.*gone.raw': No such file or directory/);
  });
});

describe('QED table entries', () => {
  it('refuses an L2 table offset past the end of the file, naming the L1 entry', async () => {
    const error = await readFailure(damaged(L1, le64(1n << 40n)));
    expect(error.kind).toBe('corrupt');
    expect(error.context).toMatchObject({ field: 'L1 entry', offset: L1 });
    expect(error.message).toBe('QED L2 table offset 0x10000000000 is invalid (L1 index 0)');
  });

  it('refuses an unaligned data cluster, naming the L2 entry', async () => {
    const error = await readFailure(damaged(L2 + 8, le64(0x50001n)));
    expect(error.kind).toBe('corrupt');
    expect(error.context).toMatchObject({ field: 'L2 entry', offset: L2 + 8 });
    expect(error.message).toBe('QED cluster offset 0x50001 is invalid (L2 table at 0x70000, index 1)');
  });
});

describe('QED check, as qemu-img check counts', () => {
  const cases: Array<[string, (file: string) => void]> = [
    ['an invalid data cluster', (f) => patch(f, L2 + 8, le64(0x50001n))],
    ['an invalid L2 table', (f) => patch(f, L1 + 8, le64(0x77n))],
    ['a cluster used twice', (f) => patch(f, L2 + 8, le64(0x50000n))],
    ['an L2 table that is also data', (f) => patch(f, L2 + 16, le64(BigInt(L2)))],
    ['a leaked cluster', (f) => appendFileSync(f, Buffer.alloc(3 * 65536))],
    ['fragmented clusters', (f) => patch(f, L2, [...le64(0x60000n), ...le64(0x50000n)])],
  ];
  for (const [what, damage] of cases) {
    it(`finds ${what}`, async () => {
      const file = copy(plain, join(dir, `check${n++}.qed`));
      damage(file);
      for (const flags of [['--output=json'], []]) {
        const expected = qemuImgRun('check', ...flags, file);
        const run = await diskimg('check', ...flags, file);
        expect(run.stdout).toBe(expected.stdout);
        expect(run.code).toBe(expected.code);
      }
    });
  }
});
