/**
 * Damaged Parallels images: a real qemu-img image with one header field spoiled in a copy. Each
 * refusal is a DiskImgError of the right kind, in qemu-img's words where it has them, naming the field.
 */
import { rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { copy, open, patch, qemuImg, qemuImgError, readAll, scratchDir } from '../support/qemu.ts';
import { execFileSync } from 'node:child_process';

let dir: string;
let good: string;
const le32 = (v: number) => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255];

beforeAll(() => {
  dir = scratchDir();
  good = join(dir, 'good.hdd');
  qemuImg('create', '-q', '-f', 'parallels', '-o', 'cluster_size=4k', good, '1M');
  execFileSync('qemu-io', ['-f', 'parallels', '-c', 'write -P 3 0 8k', good], { stdio: 'ignore' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const damaged = (patches: Array<[number, number[]]>) => {
  const file = copy(good, join(dir, `bad${n++}.hdd`));
  for (const [at, bytes] of patches) patch(file, at, bytes);
  return file;
};

async function refusal(file: string, format = 'parallels'): Promise<DiskImgError> {
  try {
    const image = await open(file, { format });
    await readAll(image);
    await image.close();
  } catch (error) {
    expect(error).toBeInstanceOf(DiskImgError);
    return error as DiskImgError;
  }
  throw new Error('opened');
}

const cases: Array<{ what: string; patches: Array<[number, number[]]>; kind: DiskImgError['kind']; field: string; qemu?: boolean }> = [
  { what: 'version 3', patches: [[16, le32(3)]], kind: 'invalid-format', field: 'version', qemu: true },
  { what: 'bad magic', patches: [[0, [0x58]]], kind: 'invalid-format', field: 'magic', qemu: true },
  { what: 'zero sectors per cluster', patches: [[28, le32(0)]], kind: 'invalid-format', field: 'tracks', qemu: true },
  { what: 'huge cluster', patches: [[28, le32(0x7fffffff)]], kind: 'limit', field: 'tracks', qemu: true },
  { what: 'huge BAT', patches: [[32, le32(0x7fffffff)]], kind: 'limit', field: 'bat_entries', qemu: true },
  { what: 'nb_sectors past INT64_MAX bytes', patches: [[40, le32(0x746f6e59)]], kind: 'limit', field: 'nb_sectors', qemu: true },
];

describe('damaged Parallels images', () => {
  for (const c of cases) {
    it(c.what, async () => {
      const file = damaged(c.patches);
      const error = await refusal(file);
      expect(error.kind).toBe(c.kind);
      expect(error.context.field).toBe(c.field);
      if (c.qemu) expect(qemuImgError('info', '-f', 'parallels', file)).toContain(error.message);
    });
  }

  it('a BAT that goes past the end of a truncated file reads as unallocated (zeros), as qemu-img', async () => {
    const file = copy(good, join(dir, 'short.hdd'));
    truncateSync(file, 70);
    const image = await open(file);
    const bytes = await readAll(image);
    expect(bytes.length).toBe(1 << 20);
    await image.close();
  });

  it('a cluster past the end of the file reads as zeros', async () => {
    const image = await open(damaged([[64, le32(0xffffffff)]]));
    const bytes = await readAll(image);
    expect(bytes.subarray(0, 4096).every((b) => b === 0)).toBe(true);
    await image.close();
  });

  it('a large BAT past a small file allocates nothing', async () => {
    const image = await open(damaged([[32, le32(0x1fffffff)], [36, le32(0xffffffff)]]));
    expect(image.virtualSize).toBe(0xffffffff * 512);
    await image.close();
  });
});
