/**
 * XFS written by the Linux kernel (mkfs.xfs, then a loop mount): a sparse file of 600 separate
 * 4 KiB pieces, whose extents no longer fit the inode (a B+tree fork), and block, leaf and node
 * folders (20, 300 and 3000 names). xfs_db confirms each form; the bytes and names are the ones
 * written. Skipped, saying why, where mounting XFS is not allowed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cachedFixtures } from '../support/fixture-cache.ts';
import { describeTree, MiB } from './fs-fixtures.ts';
import { readTree, sorted } from './fs-support.ts';

const FOLDERS = { block: 20, leaf: 300, node: 3000 };

/** The pieces of the fragmented file: 4 KiB of data every 8 KiB. */
function fragments(): Array<{ at: number; bytes: Buffer }> {
  return Array.from({ length: 600 }, (_, i) => ({
    at: i * 8192,
    bytes: Buffer.from(Array.from({ length: 4096 }, (_, j) => (i * 7 + j) & 255)),
  }));
}

function fill(root: string): void {
  const file = join(root, 'fragmented.bin');
  writeFileSync(file, '');
  // One write per piece, each synced, so the allocator gives each its own extent.
  for (const { at, bytes } of fragments()) {
    execFileSync('dd', [`of=${file}`, 'bs=4096', `seek=${at / 4096}`, 'conv=notrunc,fsync', 'status=none'], { input: bytes });
  }
  for (const [name, count] of Object.entries(FOLDERS)) {
    mkdirSync(join(root, name));
    for (let i = 0; i < count; i++) writeFileSync(join(root, name, `entry-${String(i).padStart(5, '0')}-with-a-name`), `${i}\n`);
  }
}

const fx = cachedFixtures('diskimg-fs-xfs-kernel', import.meta.url, (dir): { image: string; tree: string } | { unavailable: string } => {
  const tree = join(dir, 'tree');
  mkdirSync(tree);
  fill(tree);
  const image = join(dir, 'xfs.img');
  writeFileSync(image, '');
  truncateSync(image, 320 * MiB);
  execFileSync('mkfs.xfs', ['-q', image]);
  const mount = join(dir, 'mount');
  mkdirSync(mount);
  const mounted = spawnSync('mount', ['-o', 'loop', image, mount], { encoding: 'utf8' });
  if (mounted.status !== 0)
    return { unavailable: `mounting XFS (a loop device and the kernel's xfs) is not allowed here: ${mounted.stderr.trim()}` };
  try {
    fill(mount);
  } finally {
    execFileSync('umount', [mount]);
  }
  return { image, tree };
});

const xfsDb = (image: string, ...commands: string[]) =>
  execFileSync('xfs_db', ['-r', ...commands.flatMap((c) => ['-c', c]), image], { encoding: 'utf8' });

describe.skipIf('unavailable' in fx)(`XFS the kernel wrote${'unavailable' in fx ? ` (skipped: ${fx.unavailable})` : ''}`, () => {
  const { image, tree } = fx as { image: string; tree: string };

  it('a file in a B+tree fork, and block, leaf and node folders, as xfs_db sees them', () => {
    const format = (path: string) => /core\.format = \d+ \((\w+)\)/.exec(xfsDb(image, `path ${path}`, 'print core.format'))![1];
    const extents = (path: string) => Number(/core\.nextents = (\d+)/.exec(xfsDb(image, `path ${path}`, 'print core.nextents'))![1]);
    expect(format('/fragmented.bin')).toBe('btree');
    expect(extents('/fragmented.bin')).toBeGreaterThanOrEqual(600);
    expect([format('/block'), extents('/block')]).toEqual(['extents', 1]);
    expect(format('/leaf')).toBe('extents');
    expect(extents('/leaf')).toBeGreaterThan(1);
    expect(format('/node')).toBe('btree');
  });

  it('every name and byte is what was written', async () => {
    const want = sorted(describeTree(tree));
    expect(want.filter((e) => e.path.startsWith('/node/'))).toHaveLength(3000);
    expect(await readTree(image)).toEqual(want);
  });
});
