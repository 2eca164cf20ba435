/**
 * Damaged cloop images: one made by create_compressed_fs with one field spoiled in a copy. Each
 * refusal is a DiskImgError in qemu-img's words, of the right kind, naming the field.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { be32, be64, copy, patch, qemuImgError, scratchDir, readFailure } from '../support/qemu.ts';

const HAVE_TOOL = spawnSync('sh', ['-c', 'command -v create_compressed_fs']).status === 0;
let dir: string;
let good: string;

beforeAll(() => {
  if (!HAVE_TOOL) return;
  dir = scratchDir();
  const input = join(dir, 'input.raw');
  writeFileSync(input, Buffer.from('cloop block '.repeat(20000)));
  good = join(dir, 'good.cloop');
  execFileSync('create_compressed_fs', ['-q', '-B', '65536', input, good], { stdio: 'ignore' });
});
afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

let n = 0;
const damaged = (patches: Array<[number, number[]]>) => {
  const file = copy(good, join(dir, `bad${n++}.cloop`));
  for (const [at, bytes] of patches) patch(file, at, bytes);
  return file;
};

const cases: Array<{ what: string; patches: Array<[number, number[]]>; kind: DiskImgError['kind']; field: string; qemu: boolean }> = [
  { what: 'block size not a multiple of 512', patches: [[128, be32(1000)]], kind: 'invalid-format', field: 'block_size', qemu: true },
  { what: 'block size zero', patches: [[128, be32(0)]], kind: 'invalid-format', field: 'block_size', qemu: true },
  { what: 'block size over 64 MB', patches: [[128, be32(128 << 20)]], kind: 'invalid-format', field: 'block_size', qemu: true },
  { what: 'block count past the 32-bit table', patches: [[132, be32(0xfffffff0)]], kind: 'invalid-format', field: 'n_blocks', qemu: true },
  { what: 'too many offsets', patches: [[132, be32(0x10000000)]], kind: 'invalid-format', field: 'n_blocks', qemu: true },
  { what: 'offsets going backwards', patches: [[136 + 8, be64(1n)]], kind: 'invalid-format', field: 'offsets', qemu: true },
  { what: 'a compressed block over 128 MB', patches: [[136 + 16, be64(1n << 40n)]], kind: 'invalid-format', field: 'offsets', qemu: true },
  {
    what: 'a table running past the end of the file',
    patches: [[132, be32(0x100000)]],
    kind: 'invalid-format',
    field: 'offsets',
    qemu: true,
  },
  {
    what: 'a block that does not inflate',
    patches: [[800, [1, 2, 3, 4, 5, 6, 7, 8]]],
    kind: 'corrupt',
    field: 'compressed block',
    qemu: false,
  },
];

describe.skipIf(!HAVE_TOOL)('damaged cloop images', () => {
  for (const c of cases) {
    it(c.what, async () => {
      const file = damaged(c.patches);
      const error = await readFailure(file, { format: 'cloop' });
      expect(error.kind).toBe(c.kind);
      expect(error.context.field).toBe(c.field);
      if (c.qemu) expect(qemuImgError('info', '-f', 'cloop', file)).toContain(error.message);
    });
  }
});
