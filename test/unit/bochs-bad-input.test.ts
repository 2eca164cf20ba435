/**
 * Damaged Bochs images: a good image (written as bximage lays it out) with one header field
 * spoiled. Each refusal is a DiskImgError in qemu-img's words, of the right kind, naming the field.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { bochsImage } from '../support/bochs-image.ts';
import { copy, open, patch, qemuImgError, readAll, scratchDir, readFailure } from '../support/qemu.ts';

let dir: string;
let good: string;
const le32 = (v: number) => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255];

beforeAll(() => {
  dir = scratchDir();
  good = join(dir, 'good.bochs');
  bochsImage(good, {
    version: 2,
    diskBytes: 1 << 20,
    extentBytes: 65536,
    sectors: new Map([
      [0, 1],
      [200, 2],
    ]),
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const damaged = (patches: Array<[number, number[]]>) => {
  const file = copy(good, join(dir, `bad${n++}.bochs`));
  for (const [at, bytes] of patches) patch(file, at, bytes);
  return file;
};

const cases: Array<{ what: string; patches: Array<[number, number[]]>; kind: DiskImgError['kind']; field: string }> = [
  { what: 'bad magic', patches: [[0, [0x62]]], kind: 'invalid-format', field: 'magic' },
  { what: 'subtype Undoable', patches: [[48, [...Buffer.from('Undoable\0')]]], kind: 'invalid-format', field: 'magic' },
  { what: 'version 3', patches: [[64, le32(0x30000)]], kind: 'invalid-format', field: 'magic' },
  { what: 'catalog too large', patches: [[72, le32(0x100001)]], kind: 'limit', field: 'catalog' },
  { what: 'extent below 512', patches: [[80, le32(256)]], kind: 'invalid-format', field: 'extent' },
  { what: 'extent not a power of two', patches: [[80, le32(3 * 4096)]], kind: 'invalid-format', field: 'extent' },
  { what: 'extent too large', patches: [[80, le32(0x1000000)]], kind: 'invalid-format', field: 'extent' },
  { what: 'catalog too small for the disk', patches: [[88, le32(1 << 24)]], kind: 'invalid-format', field: 'catalog' },
];

describe('damaged Bochs images', () => {
  for (const c of cases) {
    it(c.what, async () => {
      const file = damaged(c.patches);
      const error = await readFailure(file, { format: 'bochs' });
      expect(error.kind).toBe(c.kind);
      expect(error.context.field).toBe(c.field);
      expect(qemuImgError('info', '-f', 'bochs', file)).toContain(error.message);
    });
  }

  it('a catalog slot past the end of the file reads as zeros, as qemu-img', async () => {
    const image = await open(damaged([[512, le32(0x7fffffff)]]));
    const bytes = await readAll(image);
    expect(bytes.subarray(0, 512).every((b) => b === 0)).toBe(true);
    await image.close();
  });

  it('an absurd disk size is refused before anything is read', async () => {
    const error = await readFailure(damaged([[92, le32(0x7fffffff)]]), { format: 'bochs' });
    expect(error.kind).toBe('limit');
    expect(error.context.field).toBe('disk');
  });
});
