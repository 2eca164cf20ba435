/**
 * Parallels images against the real qemu-img: images it makes (default 1 MiB and small clusters,
 * sizes off a cluster boundary) written by qemu-io (partial clusters, zero writes), an old-style
 * "WithoutFreeSpace" image (BAT in sectors) made from one of them, and damaged copies (the
 * in-use flag, a cluster past the end, leaked space, clusters out of order) for check.
 * Raw output byte-identical; info, map and check (human and JSON, exit code) as qemu-img prints them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, openSync, readSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cachedFixtures } from '../support/fixture-cache.ts';
import { diskimg, firstDifference, qemuImgOk } from './support.ts';

const qemuIo = (file: string, ...commands: string[]) =>
  execFileSync('qemu-io', ['-f', 'parallels', ...commands.flatMap((c) => ['-c', c]), file], { stdio: 'ignore' });

function patchLE32(file: string, offset: number, value: number): void {
  const fd = openSync(file, 'r+');
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value >>> 0);
  writeSync(fd, b, 0, 4, offset);
  closeSync(fd);
}

function readLE32(file: string, offset: number): number {
  const fd = openSync(file, 'r');
  const b = Buffer.alloc(4);
  readSync(fd, b, 0, 4, offset);
  closeSync(fd);
  return b.readUInt32LE(0);
}

const fixtures = cachedFixtures('diskimg-parallels', import.meta.url, (dir) => {
  const at = (name: string) => join(dir, name);
  const made: Array<{ name: string; file: string }> = [];
  const make = (name: string, options: string, size: string, ...writes: string[]) => {
    const file = at(name);
    qemuImgOk('create', '-q', '-f', 'parallels', ...(options ? ['-o', options] : []), file, size);
    if (writes.length) qemuIo(file, ...writes);
    made.push({ name, file });
    return file;
  };
  make('empty.hdd', '', '4M');
  const base = make('default.hdd', '', '6M', 'write -P 5 0 64k', 'write -P 6 1M 4k', 'write -z 2M 64k', 'write -P 7 5119k 2k');
  make(
    '64k.hdd',
    'cluster_size=64k',
    '3073k',
    'write -P 1 512 100k',
    'write -P 2 1M 4k',
    'write -z 1536k 64k',
    'write -P 3 3072k 1k',
    'write -P 4 200k 64k',
  );
  make('3k.hdd', 'cluster_size=3k', '1000k', 'write -P 12 1k 5k', 'write -P 13 600k 7k', 'write -z 900k 3k');
  make('4k.hdd', 'cluster_size=4k', '1M', 'write -P 8 0 4k', 'write -P 9 12k 8k', 'write -P 10 1020k 4k', 'write -P 11 4k 4k');
  // "WithoutFreeSpace": the same image with BAT entries in sectors, not clusters.
  const v1 = at('v1.hdd');
  qemuImgOk('convert', '-f', 'parallels', '-O', 'parallels', '-o', 'cluster_size=64k', base, v1);
  const tracks = readLE32(v1, 28);
  const entries = readLE32(v1, 32);
  const fd = openSync(v1, 'r+');
  writeSync(fd, Buffer.from('WithoutFreeSpace'), 0, 16, 0);
  closeSync(fd);
  for (let i = 0; i < entries; i++) patchLE32(v1, 64 + i * 4, readLE32(v1, 64 + i * 4) * tracks);
  made.push({ name: 'v1.hdd', file: v1 });
  // Damaged copies, for check.
  const copyOf = (name: string) => {
    const file = at(name);
    execFileSync('cp', [base, file]);
    made.push({ name, file });
    return file;
  };
  patchLE32(copyOf('in-use.hdd'), 44, 0x746f6e59);
  patchLE32(copyOf('outside.hdd'), 64 + 5 * 4, 0x40);
  truncateSync(copyOf('leaked.hdd'), 6 * 1024 * 1024 + 1_000_001);
  const reordered = copyOf('reordered.hdd');
  const first = readLE32(reordered, 64);
  patchLE32(reordered, 64, readLE32(reordered, 68));
  patchLE32(reordered, 68, first);
  return made;
});

describe('Parallels images qemu-img made', () => {
  for (const f of fixtures) {
    it(`${f.name}: raw, info, map and check as qemu-img`, async () => {
      const expected = `${f.file}.${process.pid}.qemu.raw`;
      qemuImgOk('convert', '-O', 'raw', f.file, expected);
      const ours = `${f.file}.${process.pid}.ours.raw`;
      const run = await diskimg('convert', '-O', 'raw', f.file, ours);
      expect(run.stderr).toBe('');
      expect(firstDifference(ours, expected)).toBeNull();
      for (const output of ['human', 'json']) {
        expect((await diskimg('info', `--output=${output}`, f.file)).stdout).toBe(qemuImgOk('info', `--output=${output}`, f.file));
        expect((await diskimg('map', `--output=${output}`, f.file)).stdout).toBe(qemuImgOk('map', `--output=${output}`, f.file));
        const theirs = spawnSync('qemu-img', ['check', `--output=${output}`, f.file], { encoding: 'utf8' });
        const mine = await diskimg('check', `--output=${output}`, f.file);
        expect(mine.stdout).toBe(theirs.stdout);
        expect(mine.stderr).toBe(theirs.stderr);
        expect(mine.code).toBe(theirs.status);
      }
    });
  }
});
