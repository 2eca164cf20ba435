/** Reading a file system out of an image file for the fs-* tests: its whole tree with each file's SHA-256. */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { DiskImgError } from '../../src/core/errors.ts';
import { choosePartition, openFileSystem, type Unlock } from '../../src/core/filesystems/browse.ts';
import type { FileSystem } from '../../src/core/filesystems/tree.ts';
import { main } from '../../src/cli/main.ts';
import { open } from '../support/qemu.ts';
import type { TreeEntry } from './fs-fixtures.ts';

const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** Opens `file` (raw unless it ends in .qcow2), picks the partition, and runs `work` on its file system. */
export async function withFs<T>(
  file: string,
  partition: number | undefined,
  work: (fs: FileSystem) => Promise<T>,
  volume?: string,
  unlock?: Unlock,
): Promise<T> {
  const image = await open(file, { format: file.endsWith('.qcow2') ? undefined : 'raw' });
  try {
    const { source } = await choosePartition(image, partition, volume, unlock);
    return await work(await openFileSystem(source));
  } finally {
    await image.close();
  }
}

/** The whole tree as describeTree() gives a host folder; lost+found (made by mke2fs, not by us) left out. */
export async function readTree(file: string, partition?: number, volume?: string, unlock?: Unlock): Promise<TreeEntry[]> {
  return withFs(
    file,
    partition,
    async (fs) => {
      const out: TreeEntry[] = [];
      for await (const e of fs.walk()) {
        if (e.path === '/lost+found' || e.path.startsWith('/lost+found/')) continue;
        if (e.type !== 'file' && e.type !== 'dir' && e.type !== 'symlink') throw new Error(`unexpected ${e.type} ${e.path}`);
        const entry: TreeEntry = { path: e.path, type: e.type, size: e.size };
        if (e.target !== undefined) entry.target = e.target;
        if (e.type === 'file') {
          const hash = createHash('sha256');
          for await (const chunk of fs.read(e)) hash.update(chunk);
          entry.sha256 = hash.digest('hex');
        }
        out.push(entry);
      }
      return out.sort(byPath);
    },
    volume,
    unlock,
  );
}

export const sorted = (entries: TreeEntry[]) => [...entries].sort(byPath);

/** The DiskImgError reading the whole tree (every file's bytes) raises. */
export async function treeFailure(file: string, partition?: number, volume?: string, unlock?: Unlock): Promise<DiskImgError> {
  try {
    await readTree(file, partition, volume, unlock);
  } catch (error) {
    if (error instanceof DiskImgError) return error;
    throw error;
  }
  throw new Error(`${file} was read without error`);
}

/** The CLI in-process, stdout kept as bytes (for fs cat). */
export async function diskimgBytes(...args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const parts: Buffer[] = [];
  let stderr = '';
  const code = await main(args, {
    stdout: (s) => parts.push(Buffer.from(s)),
    stderr: (s) => (stderr += s),
    stdoutBytes: async (b) => void parts.push(Buffer.from(b)),
  });
  return { code, stdout: Buffer.concat(parts), stderr };
}

export function readBytes(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const out = Buffer.alloc(length);
    readSync(fd, out, 0, length, offset);
    return out;
  } finally {
    closeSync(fd);
  }
}

export function writeBytes(file: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}
