/**
 * Btrfs whose files the Linux kernel compressed: mkfs.btrfs, then a loop mount where the folders
 * zlib/, lzo/ and zstd/ each carry `btrfs property set … compression`, and the same tree copied
 * into each (text spanning several 128 KiB extents, noise the kernel stores plain, a mixed file, a
 * sparse file with compressed data after its hole, a small file kept inline). Null where mounting
 * Btrfs is not allowed (the tests then say so and are skipped). Built once, keyed by this file.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedFixtures } from '../support/fixture-cache.ts';
import { MiB } from './fs-fixtures.ts';

export const BTRFS_METHODS = ['zlib', 'lzo', 'zstd'] as const;

export interface CompressedBtrfs {
  /** The folder tree that went in: zlib/, lzo/ and zstd/, each the same files. */
  tree: string;
  image: string;
  qcow2: string;
}

function text(lines: number, salt: string): Buffer {
  return Buffer.from(
    Array.from({ length: lines }, (_, i) => `${salt} line ${i}: the kernel compresses this, ${(i * 37) % 101}\n`).join(''),
  );
}

function noise(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function fill(dir: string, method: string): void {
  writeFileSync(join(dir, 'text.txt'), text(9000, method)); // ~500 KiB: four extents and more
  writeFileSync(join(dir, 'noise.bin'), noise(150_000, 3));
  writeFileSync(join(dir, 'mixed.bin'), Buffer.concat([text(800, 'a'), noise(20_000, 9), Buffer.alloc(70_000, 0x5a), text(700, 'b')]));
  writeFileSync(join(dir, 'small.txt'), `${method} small and inline\n`.repeat(20));
  const sparse = join(dir, 'sparse.txt');
  writeFileSync(sparse, '');
  truncateSync(sparse, 3 * MiB);
  writeFileSync(sparse, text(2000, 'after a hole'), { flag: 'a' });
}

export function compressedBtrfs(): CompressedBtrfs | { unavailable: string } {
  return cachedFixtures('diskimg-fs-btrfs-compressed', import.meta.url, (dir) => {
    const tree = join(dir, 'tree');
    for (const method of BTRFS_METHODS) {
      mkdirSync(join(tree, method), { recursive: true });
      fill(join(tree, method), method);
    }
    const image = join(dir, 'btrfs.img');
    writeFileSync(image, '');
    truncateSync(image, 128 * MiB);
    execFileSync('mkfs.btrfs', ['-q', '-f', '-L', 'compressed', image], { stdio: 'ignore' });
    const mount = join(dir, 'mount');
    mkdirSync(mount);
    const mounted = spawnSync('mount', ['-o', 'loop', image, mount], { encoding: 'utf8' });
    if (mounted.status !== 0)
      return { unavailable: `mounting Btrfs (a loop device and the kernel's btrfs) is not allowed here: ${mounted.stderr.trim()}` };
    try {
      for (const method of BTRFS_METHODS) {
        mkdirSync(join(mount, method));
        execFileSync('btrfs', ['property', 'set', join(mount, method), 'compression', method]);
        execFileSync('cp', ['-r', '--sparse=always', `${join(tree, method)}/.`, join(mount, method)]);
      }
    } finally {
      execFileSync('umount', [mount]);
    }
    const qcow2 = join(dir, 'btrfs.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', image, qcow2]);
    return { tree, image, qcow2 };
  });
}
