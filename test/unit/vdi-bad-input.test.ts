/**
 * VDI images qemu-img made, damaged in a copy: every check the reader makes, with qemu-img's
 * message where qemu-img refuses the same damage, and check's findings as qemu-img prints them.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { copy, qemuImg, scratchDir, readFailure } from '../support/qemu.ts';
import { diskimg, firstDifference, qemuImg as qemuImgRun } from '../interop/support.ts';
import { le32, le64, patch, qemuIoFormat, qemuOpenMessage } from './small-formats-bad-input-support.ts';

let dir: string;
let dynamic: string; // 4 MiB, blocks 0 and 2 allocated (host blocks 0 and 1)

beforeAll(() => {
  dir = scratchDir();
  dynamic = join(dir, 'dynamic.vdi');
  qemuImg('create', '-q', '-f', 'vdi', dynamic, '4M');
  qemuIoFormat('vdi', dynamic, 'write -P 1 0 64k', 'write -P 2 2M 64k');
});

let n = 0;
function damaged(offset: number, bytes: number[]): string {
  const file = copy(dynamic, join(dir, `bad${n++}.vdi`));
  patch(file, offset, bytes);
  return file;
}

describe('VDI header checks, with qemu-img messages', () => {
  const cases: Array<[string, number, number[], string, string]> = [
    ['a bad signature', 0x40, le32(0x12345678), 'invalid-format', 'signature'],
    ['version 1.2', 0x44, le32(0x00010002), 'unsupported', 'version'],
    ['an unaligned block map', 0x154, le32(0x201), 'unsupported', 'offset_bmap'],
    ['an unaligned data offset', 0x158, le32(0x1001), 'unsupported', 'offset_data'],
    ['4 KiB sectors', 0x168, le32(4096), 'unsupported', 'sector_size'],
    ['2 MiB blocks', 0x178, le32(2 * 1024 * 1024), 'unsupported', 'block_size'],
    ['a disk larger than its block map', 0x170, le64(5n * 1024n * 1024n), 'unsupported', 'blocks_in_image'],
    ['a disk larger than qemu takes', 0x170, le64(1n << 60n), 'unsupported', 'disk_size'],
    ['a link UUID', 0x1a8, [1], 'unsupported', 'uuid_link'],
    ['more blocks than qemu takes', 0x180, le32(0x20000000), 'unsupported', 'blocks_in_image'],
  ];
  for (const [what, offset, bytes, kind, field] of cases) {
    it(`refuses ${what}`, async () => {
      const file = damaged(offset, bytes);
      const error = await readFailure(file, { format: 'vdi' });
      expect(error.kind).toBe(kind);
      expect(error.context.field).toBe(field);
      expect(error.message).toBe(qemuOpenMessage(file, 'vdi'));
    });
  }

  it('refuses a differencing image, naming its parent UUID', async () => {
    const file = damaged(0x4c, le32(4));
    patch(file, 0x1b8, [0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
    const error = await readFailure(file, { format: 'vdi' });
    expect(error.kind).toBe('unsupported');
    expect(error.context.field).toBe('uuid_parent');
    expect(error.message.startsWith(qemuOpenMessage(file, 'vdi'))).toBe(true);
    expect(error.message).toContain('differencing image');
    expect(error.message).toContain('00112233-4455-6677-8899-aabbccddeeff');
  });

  it('refuses a block map that runs past the end of the file (qemu reads zeros there)', async () => {
    const file = damaged(0x180, le32(1_000_000));
    const error = await readFailure(file, { format: 'vdi' });
    expect(error.kind).toBe('corrupt');
    expect(error.context.field).toBe('blocks_in_image');
    expect(error.message).toMatch(/VDI block map \(1000000 entries at offset 0x200\) runs past the end of the file/);
  });
});

describe('VDI contents qemu-img reads all the same', () => {
  it('rounds an odd disk size up to whole sectors, as qemu-img does', async () => {
    const file = damaged(0x170, le64(4n * 1024n * 1024n - 1000n));
    expect((await diskimg('info', '--output=json', file)).stdout).toBe(qemuImgRun('info', '--output=json', file).stdout);
  });

  it('reads a block past the end of the file as zeros, as qemu-img does', async () => {
    const file = damaged(0x200 + 8, le32(3000));
    expect((await diskimg('map', '--output=json', file)).stdout).toBe(qemuImgRun('map', '--output=json', file).stdout);
    const ours = join(dir, 'past.ours.raw');
    const theirs = join(dir, 'past.qemu.raw');
    qemuImg('convert', '-O', 'raw', file, theirs);
    expect((await diskimg('convert', '-O', 'raw', file, ours)).code).toBe(0);
    expect(firstDifference(ours, theirs)).toBeNull();
  });
});

describe('VDI check, as qemu-img check prints it', () => {
  const cases: Array<[string, number, number[]]> = [
    ['a block used twice', 0x200 + 8, le32(0)],
    ['a block index past the image', 0x200 + 4, le32(77)],
    ['a wrong allocated count', 0x184, le32(5)],
    ['a discarded block (VirtualBox compaction)', 0x200 + 8, le32(0xfffffffe)],
  ];
  for (const [what, offset, bytes] of cases) {
    it(`finds ${what}`, async () => {
      const file = damaged(offset, bytes);
      for (const flags of [['--output=json'], []]) {
        const expected = qemuImgRun('check', ...flags, file);
        const run = await diskimg('check', ...flags, file);
        expect(run.stdout).toBe(expected.stdout);
        expect(run.stderr).toBe(expected.stderr);
        expect(run.code).toBe(expected.code);
      }
    });
  }
});
