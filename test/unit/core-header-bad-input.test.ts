/**
 * Every check on the qcow2 header, each with a bad input: a real qemu-img image with one field
 * set to a bad value in a copy. Our refusal must read exactly as qemu-img's for the same file.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, afterAll } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { be32, be64, copy, open, patch, qemuImg, qemuImgError, scratchDir } from '../support/qemu.ts';

let dir: string;
let v3: string;
let withBacking: string;

beforeAll(() => {
  dir = scratchDir();
  v3 = join(dir, 'v3.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', v3, '64M');
  const base = join(dir, 'base.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', base, '64M');
  withBacking = join(dir, 'overlay.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', withBacking);
});

interface Damage {
  what: string;
  from?: () => string;
  /** [offset, bytes] pairs to write into the copy. */
  patches: Array<[number, number[]]>;
  kind: DiskImgError['kind'];
}

const damages: Damage[] = [
  { what: 'bad magic', patches: [[0, be32(0x12345678)]], kind: 'invalid-format' },
  { what: 'version 4', patches: [[4, be32(4)]], kind: 'unsupported' },
  { what: 'version 1 forced as qcow2', patches: [[4, be32(1)]], kind: 'unsupported' },
  { what: 'cluster_bits 8', patches: [[20, be32(8)]], kind: 'unsupported' },
  { what: 'cluster_bits 22', patches: [[20, be32(22)]], kind: 'unsupported' },
  { what: 'header_length 100', patches: [[100, be32(100)]], kind: 'invalid-format' },
  { what: 'header longer than a cluster', patches: [[100, be32(0x20000)]], kind: 'invalid-format' },
  { what: 'backing file offset past the first cluster', patches: [[8, be64(0x20000n)]], kind: 'invalid-format' },
  { what: 'unknown incompatible feature bit 5', patches: [[79, [0x20]]], kind: 'unsupported' },
  {
    what: 'compression type 2',
    patches: [
      [104, [2]],
      [79, [0x08]],
    ],
    kind: 'unsupported',
  },
  { what: 'zstd without its feature bit', patches: [[104, [1]]], kind: 'invalid-format' },
  { what: 'compression feature bit with zlib', patches: [[79, [0x08]]], kind: 'invalid-format' },
  { what: 'refcount_order 7', patches: [[96, be32(7)]], kind: 'unsupported' },
  { what: 'no refcount table', patches: [[56, be32(0)]], kind: 'invalid-format' },
  { what: 'refcount table over 8 MiB', patches: [[56, be32(0x1000)]], kind: 'limit' },
  { what: 'unaligned refcount table', patches: [[48, be64(0x10200n)]], kind: 'invalid-format' },
  { what: 'L1 table over 32 MiB', patches: [[36, be32(0x500000)]], kind: 'limit' },
  { what: 'L1 table too small for the size', patches: [[24, be64(1n << 40n)]], kind: 'invalid-format' },
  { what: 'unaligned L1 table', patches: [[40, be64(0x30200n)]], kind: 'invalid-format' },
  { what: 'snapshot table too large', patches: [[60, be32(0x20000)]], kind: 'limit' },
  {
    what: 'unaligned snapshot table',
    patches: [
      [60, be32(1)],
      [64, be64(0x10010n)],
    ],
    kind: 'invalid-format',
  },
  { what: 'image too big', patches: [[24, be64(1n << 62n)]], kind: 'limit' },
  { what: 'backing file name too long', from: () => withBacking, patches: [[16, be32(2000)]], kind: 'limit' },
];

describe('header fields qemu-img refuses, we refuse with its words', () => {
  for (const damage of damages) {
    it(damage.what, async () => {
      const file = copy(damage.from?.() ?? v3, join(dir, `${damage.what.replace(/\W+/g, '-')}.qcow2`));
      for (const [offset, bytes] of damage.patches) patch(file, offset, bytes);
      const stderr = qemuImgError('info', '-f', 'qcow2', file);
      const expected = /Could not open '[^']*': (.*)/.exec(stderr)?.[1];
      expect(expected, stderr).toBeDefined();
      let error: unknown;
      try {
        await (await open(file, { format: 'qcow2', noBacking: true })).close();
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(DiskImgError);
      expect((error as DiskImgError).message).toBe(expected);
      expect((error as DiskImgError).kind).toBe(damage.kind);
    });
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));
