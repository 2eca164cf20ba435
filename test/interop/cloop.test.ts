/**
 * cloop images against the real qemu-img. qemu-img cannot make them: create_compressed_fs
 * (Debian's cloop-utils) does, with each block size and compression level it offers (zlib levels,
 * none, 7-Zip's deflate), from inputs off a block boundary. qemu-img is the oracle: raw output
 * byte-identical, info and map as it prints them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cachedFixtures } from '../support/fixture-cache.ts';
import { mixedRaw } from './fixtures.ts';
import { diskimg, firstDifference, qemuImgOk } from './support.ts';

const HAVE_TOOL = spawnSync('sh', ['-c', 'command -v create_compressed_fs']).status === 0;

const OPTIONS: Array<[string, string[]]> = [
  ['default', []],
  ['16k-blocks', ['-B', '16384']],
  ['512-byte-blocks', ['-B', '512']],
  ['256k-blocks', ['-B', '262144']],
  ['level-0', ['-L', '0']],
  ['7zip-deflate', ['-L', '-1']],
];

const fixtures = HAVE_TOOL
  ? cachedFixtures('diskimg-cloop', import.meta.url, (dir) => {
      const input = mixedRaw(join(dir, 'input.raw'), 700_004, 11);
      const zeros = join(dir, 'zeros.raw');
      writeFileSync(zeros, Buffer.alloc(300_000));
      const made = OPTIONS.map(([name, options]) => {
        const file = join(dir, `${name}.cloop`);
        execFileSync('create_compressed_fs', ['-q', ...options, input, file], { stdio: 'ignore' });
        return { name, file };
      });
      const file = join(dir, 'zeros.cloop');
      execFileSync('create_compressed_fs', ['-q', zeros, file], { stdio: 'ignore' });
      return [...made, { name: 'zeros', file }];
    })
  : [];

describe.skipIf(!HAVE_TOOL)('cloop images (create_compressed_fs; qemu-img as the oracle)', () => {
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
        // Human map fails for both: compressed data has no host offset to show.
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
