/**
 * Bochs growing images against the real qemu-img. qemu-img cannot make them, so they are written
 * here as bximage lays them out (version 1 and 2 headers, extents unallocated, partly and wholly
 * written, slots out of order, a disk size off an extent boundary); qemu-img is the oracle: raw
 * output byte-identical, info and map as it prints them.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { cachedFixtures } from '../support/fixture-cache.ts';
import { bochsImage } from '../support/bochs-image.ts';
import { diskimg, firstDifference, qemuImgOk } from './support.ts';

const sectors = (entries: Array<[number, number, number]>) => {
  const map = new Map<number, number>();
  for (const [first, count, fill] of entries) for (let i = 0; i < count; i++) map.set(first + i, (fill + i) & 255);
  return map;
};

const fixtures = cachedFixtures('diskimg-bochs', import.meta.url, (dir) => {
  const specs = [
    { name: 'empty-v2.bochs', version: 2 as const, diskBytes: 1 << 20, extentBytes: 65536, sectors: new Map<number, number>() },
    {
      name: 'v2-64k.bochs',
      version: 2 as const,
      diskBytes: 2 << 20,
      extentBytes: 65536,
      sectors: sectors([
        [0, 8, 1],
        [130, 3, 50],
        [1024, 128, 9],
        [4095, 1, 77],
      ]),
      order: [8, 0, 31, 1],
    },
    {
      name: 'v1-4k.bochs',
      version: 1 as const,
      diskBytes: 1 << 20,
      extentBytes: 4096,
      sectors: sectors([
        [1, 1, 3],
        [7, 2, 4],
        [100, 40, 5],
        [2047, 1, 6],
      ]),
    },
    {
      name: 'odd-size-512k-extent.bochs',
      version: 2 as const,
      diskBytes: 3 * 524288 + 4096 + 512,
      extentBytes: 524288,
      sectors: sectors([
        [0, 1, 1],
        [1030, 20, 2],
        [3080, 9, 3],
      ]),
    },
  ];
  return specs.map(({ name, ...spec }) => {
    const file = join(dir, name);
    bochsImage(file, spec);
    return { name, file };
  });
});

describe('Bochs images (qemu-img as the oracle)', () => {
  for (const f of fixtures) {
    it(`${f.name}: raw, info and map as qemu-img`, async () => {
      const expected = `${f.file}.${process.pid}.qemu.raw`;
      qemuImgOk('convert', '-O', 'raw', f.file, expected);
      const ours = `${f.file}.${process.pid}.ours.raw`;
      const run = await diskimg('convert', '-O', 'raw', f.file, ours);
      expect(run.stderr).toBe('');
      expect(firstDifference(ours, expected)).toBeNull();
      for (const output of ['human', 'json']) {
        expect((await diskimg('info', `--output=${output}`, f.file)).stdout).toBe(qemuImgOk('info', `--output=${output}`, f.file));
        // Human map fails for both: the data has no host offset to show.
        const theirs = spawnSync('qemu-img', ['map', `--output=${output}`, f.file], { encoding: 'utf8' });
        const mine = await diskimg('map', `--output=${output}`, f.file);
        expect([mine.code, mine.stdout, mine.stderr.replace(/^diskimg:/, 'qemu-img:')]).toEqual([
          theirs.status,
          theirs.stdout,
          theirs.stderr,
        ]);
      }
    });
  }
});
