/**
 * The one read-only shape every browsable file system (FAT, ext2/3/4, …) gives: a root, one
 * directory's children at a time, and a file's bytes as a stream. Readers only answer those three
 * questions; walking, path lookup and the limits that keep hostile images from looping live here,
 * written once.
 */
import { DiskImgError } from '../errors.ts';
import type { ByteSource } from '../partitions/source.ts';

/** As `iso ls` and `ls -l` name them. */
export type FsEntryType = 'file' | 'dir' | 'symlink' | 'block' | 'char' | 'fifo' | 'socket';

export interface FsEntry {
  /** Absolute, from "/". */
  path: string;
  name: string;
  type: FsEntryType;
  /** Bytes of a file (a symlink: its target's length; a directory: 0). */
  size: number;
  /** A symlink's target. */
  target?: string;
  /** Permission bits (and set-id, sticky), where the file system keeps them. */
  mode?: number;
  uid?: number;
  gid?: number;
  nlink?: number;
  /** ISO 8601: UTC ("Z") where the file system stores UTC, local time without a zone (FAT) otherwise. */
  mtime?: string;
  /** A device's numbers. */
  device?: { major: number; minor: number };
  /** NTFS alternate data streams (named $DATA attributes): listed, not read. */
  streams?: Array<{ name: string; size: number }>;
  /** NTFS file attributes ($STANDARD_INFORMATION's flags), as ntfsinfo names them: ARCHIVE, COMPRESSED, HIDDEN… */
  attributes?: string[];
  /** Private to the reader: how to list or read this entry. `id` names a directory for loop checks. */
  readonly ref: { id: string };
}

export interface FsReader {
  /** blkid's name: vfat, exfat, ext2, ext3, ext4, ntfs, xfs, btrfs. */
  readonly type: string;
  /** Things a user should know that do not stop reading (a journal that needs recovery). */
  readonly warnings: readonly string[];
  root(): FsEntry;
  /** A directory's children, never "." or "..", paths filled in. */
  list(dir: FsEntry): Promise<FsEntry[]>;
  /** `length` bytes of a file from `start` (both within its size), in order, each chunk ≤ 1 MiB. */
  read(file: FsEntry, start: number, length: number): AsyncGenerator<Uint8Array>;
}

/** The file systems browse.ts can open, by blkid's name (here, so the page can tell without loading the readers). */
export const BROWSABLE: readonly string[] = ['vfat', 'exfat', 'ext2', 'ext3', 'ext4', 'ntfs', 'xfs', 'btrfs'];

export const MAX_DEPTH = 1024;
/** Entries one directory may list: far beyond real folders, well below what exhausts memory. */
export const MAX_DIR_ENTRIES = 2_000_000;
/** The largest read a reader makes at once. */
export const READ_CHUNK = 1 << 20;

const shorten = (path: string) => (path.length > 200 ? `${path.slice(0, 100)}…${path.slice(-100)}` : path);

export const childPath = (dir: FsEntry, name: string) => (dir.path === '/' ? `/${name}` : `${dir.path}/${name}`);

/** Bytes at `offset` of the file system, or a 'corrupt' error naming what pointed past its end. */
export async function readChecked(source: ByteSource, offset: number, length: number, what: string): Promise<Uint8Array> {
  const bytes = await source.read(offset, length);
  if (!bytes)
    throw new DiskImgError(
      'corrupt',
      `${what} lies at bytes ${offset}–${offset + length}, past the end of the file system (${source.size} bytes)`,
      { field: what, offset, value: length },
    );
  return bytes;
}

/** A file system opened for browsing: lookup by path, a walk that never loops, ranged reads. */
export class FileSystem {
  constructor(readonly reader: FsReader) {}

  get type(): string {
    return this.reader.type;
  }

  get warnings(): readonly string[] {
    return this.reader.warnings;
  }

  root(): FsEntry {
    return this.reader.root();
  }

  async list(dir: FsEntry): Promise<FsEntry[]> {
    if (dir.type !== 'dir') throw new DiskImgError('usage', `${dir.path} is not a directory`, { field: 'path', value: dir.path });
    return this.reader.list(dir);
  }

  /** The entry at an absolute path ("/" is the root); names compare exactly, then (FAT, exFAT, NTFS: as Windows does) case-blind. */
  async resolve(path: string): Promise<FsEntry> {
    let entry = this.reader.root();
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.length > MAX_DEPTH)
      throw new DiskImgError('limit', `The path has more than ${MAX_DEPTH} parts`, { field: 'path', value: shorten(path) });
    for (const part of parts) {
      if (part === '..') throw new DiskImgError('usage', `Paths are absolute without "..": ${path}`, { field: 'path', value: path });
      if (entry.type !== 'dir') throw new DiskImgError('not-found', `${entry.path} is not a directory`, { field: 'path', value: path });
      const children = await this.reader.list(entry);
      const found =
        children.find((c) => c.name === part) ??
        (this.reader.type === 'vfat' || this.reader.type === 'exfat' || this.reader.type === 'ntfs'
          ? children.find((c) => c.name.toUpperCase() === part.toUpperCase())
          : undefined);
      if (!found)
        throw new DiskImgError('not-found', `No such file or directory in the file system: ${path}`, { field: 'path', value: path });
      entry = found;
    }
    return entry;
  }

  /**
   * Every entry below `from`, depth first, one directory per level in memory. A directory that is
   * its own ancestor is a loop; one reached twice by different paths is refused too, or a few
   * crafted records could make the walk exponential.
   */
  async *walk(from: FsEntry = this.reader.root()): AsyncGenerator<FsEntry> {
    const seen = new Map<string, string>([[from.ref.id, from.path]]);
    yield* this.walkBelow(from, new Set([from.ref.id]), seen, 1);
  }

  private async *walkBelow(dir: FsEntry, ancestors: Set<string>, seen: Map<string, string>, depth: number): AsyncGenerator<FsEntry> {
    if (depth > MAX_DEPTH)
      throw new DiskImgError('limit', `The directory tree is deeper than ${MAX_DEPTH} levels at ${shorten(dir.path)}`, {
        field: 'depth',
        value: depth,
      });
    for (const entry of await this.reader.list(dir)) {
      yield entry;
      if (entry.type !== 'dir') continue;
      const id = entry.ref.id;
      if (ancestors.has(id))
        throw new DiskImgError('corrupt', `Directory loop: ${shorten(entry.path)} is one of its own parent directories (${id})`, {
          field: 'directory',
          value: entry.path,
        });
      const earlier = seen.get(id);
      if (earlier !== undefined)
        throw new DiskImgError(
          'corrupt',
          `Directory ${shorten(entry.path)} is the same directory as ${shorten(earlier)} (${id}): a directory may have only one parent`,
          { field: 'directory', value: entry.path },
        );
      seen.set(id, entry.path);
      ancestors.add(id);
      yield* this.walkBelow(entry, ancestors, seen, depth + 1);
      ancestors.delete(id);
    }
  }

  /** A file's bytes in order (from `start`, `length` of them; the whole file by default), chunks ≤ 1 MiB. */
  async *read(entry: FsEntry, options: { start?: number; length?: number } = {}): AsyncGenerator<Uint8Array> {
    if (entry.type === 'dir') throw new DiskImgError('usage', `${entry.path} is a directory`, { field: 'path', value: entry.path });
    if (entry.type !== 'file')
      throw new DiskImgError(
        'usage',
        `${entry.path} is a ${entry.type === 'symlink' ? 'symbolic link' : entry.type === 'block' ? 'block device' : entry.type === 'char' ? 'character device' : entry.type === 'fifo' ? 'FIFO' : 'socket'}: it has no bytes to read`,
        { field: 'path', value: entry.path },
      );
    const start = Math.min(Math.max(0, options.start ?? 0), entry.size);
    const length = Math.max(0, Math.min(options.length ?? entry.size, entry.size - start));
    if (length === 0) return;
    let produced = 0;
    for await (const chunk of this.reader.read(entry, start, length)) {
      produced += chunk.length;
      yield chunk;
    }
    if (produced !== length)
      throw new DiskImgError('corrupt', `${entry.path}: read ${produced} bytes, expected ${length}`, { field: 'size', value: entry.size });
  }
}

/** ls -l's type letter and rwx bits. */
export function modeString(entry: FsEntry): string {
  const kind = { file: '-', dir: 'd', symlink: 'l', block: 'b', char: 'c', fifo: 'p', socket: 's' }[entry.type];
  const mode = entry.mode ?? (entry.type === 'dir' ? 0o755 : 0o644);
  let bits = '';
  for (let shift = 6; shift >= 0; shift -= 3)
    bits += `${mode & (4 << shift) ? 'r' : '-'}${mode & (2 << shift) ? 'w' : '-'}${mode & (1 << shift) ? 'x' : '-'}`;
  return kind + bits;
}

/** The JSON shape `diskimg fs ls` prints. */
export function fsEntryJson(entry: FsEntry): {
  path: string;
  type: FsEntryType;
  size: number;
  target?: string;
  mode?: number;
  mtime?: string;
  streams?: Array<{ name: string; size: number }>;
  attributes?: string[];
} {
  return {
    path: entry.path,
    type: entry.type,
    size: entry.size,
    ...(entry.target !== undefined ? { target: entry.target } : {}),
    ...(entry.mode !== undefined ? { mode: entry.mode } : {}),
    ...(entry.mtime !== undefined ? { mtime: entry.mtime } : {}),
    ...(entry.streams ? { streams: entry.streams } : {}),
    ...(entry.attributes ? { attributes: entry.attributes } : {}),
  };
}
