/**
 * DMG (UDIF) images against the real qemu-img. qemu-img cannot make them: they are written here
 * as hdiutil lays them out (test/support/dmg-image.ts) — XML property list or old resource fork,
 * several partitions, chunks of zlib, raw, zeros, ignored sectors, comments, bzip2, an odd file
 * size, a zero run longer than any other chunk may be. qemu-img is the oracle for info, map and
 * the raw bytes; where this qemu-img lacks its dmg-bz2 module, the bytes written are the oracle.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cachedFixtures } from '../support/fixture-cache.ts';
import { dmgImage, type DmgChunk } from '../support/dmg-image.ts';
import { diskimg, firstDifference, qemuImgOk } from './support.ts';

const text = (sectors: number, seed: number) => Buffer.from(`dmg chunk ${seed} text, `.repeat(sectors * 40).slice(0, sectors * 512));
const bytes = (sectors: number, seed: number) =>
  Buffer.from(Array.from({ length: sectors * 512 }, (_, i) => (i * seed + (i >> 9) * 31) & 255));

const SPECS: Array<{ name: string; partitions: DmgChunk[][]; resourceFork?: boolean; padding?: number; qemuReads: boolean }> = [
  {
    name: 'xml-mixed.dmg',
    qemuReads: true,
    partitions: [
      [
        { type: 'zlib', sectors: 16, data: text(16, 1) },
        { type: 'raw', sectors: 5, data: bytes(5, 7) },
        { type: 'zero', sectors: 9 },
        { type: 'comment', sectors: 0 },
        { type: 'zlib', sectors: 40, data: bytes(40, 3) },
        { type: 'ignore', sectors: 6 },
      ],
      [
        { type: 'raw', sectors: 3, data: bytes(3, 11) },
        { type: 'zlib', sectors: 128, data: text(128, 2) },
      ],
    ],
  },
  {
    name: 'resource-fork.dmg',
    qemuReads: true,
    resourceFork: true,
    partitions: [
      [
        { type: 'zlib', sectors: 32, data: text(32, 4) },
        { type: 'raw', sectors: 2, data: bytes(2, 5) },
      ],
      [
        { type: 'zero', sectors: 20 },
        { type: 'zlib', sectors: 8, data: bytes(8, 9) },
      ],
    ],
  },
  {
    name: 'odd-size.dmg',
    qemuReads: true,
    padding: 300,
    partitions: [
      [
        { type: 'zlib', sectors: 24, data: text(24, 6) },
        { type: 'raw', sectors: 7, data: bytes(7, 13) },
      ],
    ],
  },
  {
    name: 'long-zero-run.dmg',
    qemuReads: true,
    partitions: [
      [
        { type: 'zlib', sectors: 16, data: text(16, 8) },
        { type: 'zero', sectors: 300_000 },
        { type: 'raw', sectors: 1, data: bytes(1, 17) },
      ],
    ],
  },
  {
    name: 'bzip2.dmg',
    qemuReads: false,
    partitions: [
      [
        { type: 'bzip2', sectors: 64, data: text(64, 10) },
        { type: 'zlib', sectors: 8, data: bytes(8, 19) },
        { type: 'bzip2', sectors: 40, data: bytes(40, 23) },
      ],
    ],
  },
];

const fixtures = cachedFixtures('diskimg-dmg', import.meta.url, (dir) =>
  SPECS.map(({ name, qemuReads, ...spec }) => {
    const file = join(dir, name);
    const guest = dmgImage(file, spec);
    writeFileSync(`${file}.written.raw`, guest);
    return { name, file, qemuReads, written: `${file}.written.raw` };
  }),
);

/** qemu-img without the "module not found" lines this Debian build prints for dmg-bz2/lzfse. */
function qemu(...args: string[]) {
  const run = spawnSync('qemu-img', args, { encoding: 'utf8' });
  return {
    code: run.status,
    stdout: run.stdout,
    stderr: run.stderr.replace(/^qemu: module .*\n/gm, '').replace(/^qemu-img: warning: dmg-.*\n/gm, ''),
  };
}

describe('DMG images (qemu-img as the oracle)', () => {
  for (const f of fixtures) {
    it(`${f.name}: raw, info and map as qemu-img`, async () => {
      const ours = `${f.file}.${process.pid}.ours.raw`;
      const run = await diskimg('convert', '-O', 'raw', f.file, ours);
      expect(run.stderr).toBe('');
      expect(firstDifference(ours, f.written)).toBeNull();
      if (f.qemuReads) {
        const expected = `${f.file}.${process.pid}.qemu.raw`;
        qemuImgOk('convert', '-O', 'raw', f.file, expected);
        expect(firstDifference(ours, expected)).toBeNull();
      }
      for (const output of ['human', 'json']) {
        expect((await diskimg('info', `--output=${output}`, f.file)).stdout).toBe(qemu('info', `--output=${output}`, f.file).stdout);
        // Human map fails for both: the data has no host offset to show.
        const theirs = qemu('map', `--output=${output}`, f.file);
        const mine = await diskimg('map', `--output=${output}`, f.file);
        expect([mine.code, mine.stdout, mine.stderr.replace(/^diskimg:/, 'qemu-img:')]).toEqual([
          theirs.code,
          theirs.stdout,
          theirs.stderr,
        ]);
      }
    });
  }

  it('refuses an LZFSE chunk clearly (info and map still work)', async () => {
    const file = join(fixtures[0].file, '..', `lzfse.${process.pid}.dmg`);
    dmgImage(file, {
      partitions: [
        [
          { type: 'zlib', sectors: 16, data: text(16, 1) },
          { type: 'lzfse', sectors: 16, data: text(16, 2) },
        ],
      ],
    });
    expect((await diskimg('info', '--output=json', file)).stdout).toBe(qemu('info', '--output=json', file).stdout);
    const run = await diskimg('convert', '-O', 'raw', file, `${file}.raw`);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('LZFSE');
  });
});
