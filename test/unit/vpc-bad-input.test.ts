/**
 * Every check on a VHD, each with a bad input: a real qemu-img image with one field set to a bad
 * value in a copy. Where qemu-img refuses the same file, our message starts with its words.
 */
import { readFileSync, rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { be32, be64, copy, open, patch, qemuImg, qemuImgError, scratchDir } from '../support/qemu.ts';
import { execFileSync } from 'node:child_process';
import { resum } from '../support/vpc.ts';

let dir: string;
let dynamic: string;
let fixed: string;

beforeAll(() => {
  dir = scratchDir('diskimg-vpc-bad-');
  dynamic = join(dir, 'dynamic.vhd');
  qemuImg('create', '-q', '-f', 'vpc', dynamic, '8M');
  execFileSync('qemu-io', ['-f', 'vpc', '-c', 'write -P 1 0 64k', '-c', 'write -P 2 4M 4k', dynamic], { stdio: 'ignore' });
  fixed = join(dir, 'fixed.vhd');
  qemuImg('create', '-q', '-f', 'vpc', '-o', 'subformat=fixed', fixed, '8M');
});

interface Damage {
  what: string;
  from?: () => string;
  /** [offset, bytes] pairs to write into the copy; a negative offset counts from the end. */
  patches: Array<[number, number[]]>;
  /** Footers whose checksum is written again after the patches (offsets as above). */
  resum?: number[];
  truncate?: number;
  kind: DiskImgError['kind'];
  /** The field our error names. */
  field: string;
}

const damages: Damage[] = [
  { what: 'footer checksum', patches: [[36, [0x41]]], kind: 'corrupt', field: 'footer checksum' },
  {
    what: 'no cookie at the start or the end',
    patches: [
      [0, [0x41]],
      [-512, [0x41]],
    ],
    kind: 'invalid-format',
    field: 'footer cookie',
  },
  { what: 'footer at the end only, of a dynamic disk', patches: [[0, [0x41]]], kind: 'invalid-format', field: 'footer cookie' },
  { what: 'fixed footer checksum', from: () => fixed, patches: [[-512 + 36, [0x41]]], kind: 'corrupt', field: 'footer checksum' },
  { what: 'empty file', patches: [], truncate: 0, kind: 'invalid-format', field: 'file size' },
  {
    what: 'file of 100 bytes (qemu rounds its length up to a sector)',
    patches: [[0, [0x41]]],
    truncate: 100,
    kind: 'invalid-format',
    field: 'footer cookie',
  },
  {
    what: 'disk over 2040 GiB',
    patches: [
      [28, [...Buffer.from('qem2')]],
      [48, be64(2041n << 30n)],
    ],
    resum: [0],
    kind: 'limit',
    field: 'current_size',
  },
  { what: 'dynamic header cookie', patches: [[512, [0x41]]], kind: 'invalid-format', field: 'dynamic header cookie' },
  {
    what: 'dynamic header past the end of the file',
    patches: [[16, be64(1n << 40n)]],
    resum: [0],
    kind: 'invalid-format',
    field: 'dynamic header cookie',
  },
  { what: 'block size not a power of two', patches: [[512 + 32, be32(1000)]], kind: 'invalid-format', field: 'block_size' },
  { what: 'block size 256', patches: [[512 + 32, be32(256)]], kind: 'invalid-format', field: 'block_size' },
  { what: 'block table too small for the disk', patches: [[512 + 28, be32(2)]], kind: 'invalid-format', field: 'max_table_entries' },
  { what: 'block table of 2^30+1 entries', patches: [[512 + 28, be32(0x40000001)]], kind: 'invalid-format', field: 'max_table_entries' },
  { what: 'block table of 2^31 entries', patches: [[512 + 28, be32(0x80000000)]], kind: 'invalid-format', field: 'max_table_entries' },
  { what: 'block table past the end of the file', patches: [[512 + 16, be64(1n << 40n)]], kind: 'corrupt', field: 'table_offset' },
  { what: 'block table entry past the end of the file', patches: [[1536, be32(0x100000)]], kind: 'corrupt', field: 'BAT entry' },
  { what: 'truncated file', patches: [], truncate: 2 * 1024 * 1024, kind: 'corrupt', field: 'BAT entry' },
];

describe('what qemu-img refuses, we refuse with its words and name the field', () => {
  for (const damage of damages) {
    it(damage.what, async () => {
      const file = copy(damage.from?.() ?? dynamic, join(dir, `${damage.what.replace(/\W+/g, '-')}.vhd`));
      const size = readFileSync(file).length;
      for (const [offset, bytes] of damage.patches) patch(file, offset < 0 ? size + offset : offset, bytes);
      for (const at of damage.resum ?? []) resum(file, at < 0 ? size + at : at);
      if (damage.truncate !== undefined) truncateSync(file, damage.truncate);
      const stderr = qemuImgError('info', '-f', 'vpc', file);
      // Where qemu sets no message of its own, it says "Could not open" twice: the last one counts.
      const expected = /.*Could not open '[^']*': (.*)/.exec(stderr)?.[1];
      expect(expected, stderr).toBeDefined();
      let error: unknown;
      try {
        await (await open(file, { format: 'vpc', noBacking: true })).close();
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(DiskImgError);
      expect((error as DiskImgError).message.startsWith(expected!), `${(error as Error).message} / ${expected}`).toBe(true);
      expect((error as DiskImgError).kind).toBe(damage.kind);
      expect((error as DiskImgError).context.field).toBe(damage.field);
    });
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));
