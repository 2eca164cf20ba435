/** The one tree model every disc file system (ISO 9660 with Rock Ridge or Joliet, UDF) gives. */

export interface ByteRange {
  /** Byte offset in the image. */
  offset: number;
  length: number;
}

/** block, char, fifo and socket are Rock Ridge special files (PX's file type): they have no bytes. */
export type EntryType = 'file' | 'dir' | 'symlink' | 'block' | 'char' | 'fifo' | 'socket';

export interface DiscEntry {
  /** Absolute, from "/", names as a user sees them. */
  path: string;
  name: string;
  type: EntryType;
  /** Bytes of a file's data (0 for a directory's listing size is not shown; a symlink's is 0). */
  size: number;
  /** Where a file's data lies, in order; empty for a directory or a symlink. */
  extents: ByteRange[];
  /** Data stored inside the file system's own records (UDF embedded data), instead of extents. */
  inline?: Uint8Array;
  mode?: number;
  uid?: number;
  gid?: number;
  nlink?: number;
  /** ISO 8601. */
  modified?: string | null;
  /** A block or character device's numbers (Rock Ridge PN). */
  device?: { major: number; minor: number };
  /**
   * The file is stored compressed (Rock Ridge zisofs, v1 "ZF pz" or zisofs2 "PZ"): `size` is the
   * decompressed size, `stored` the bytes on the disc; reading it decompresses.
   */
  zisofs?: { version: 1 | 2; stored: number; blockSize: number; headerSize: number; entry: 'ZF' | 'Z2' };
  /** A symlink's target. */
  target?: string;
  hidden?: boolean;
  /** Private to the tree that made the entry: how to list it when it is a directory. */
  readonly ref?: unknown;
}

/** A file system's view of a disc: the root, and one directory's children at a time. */
export interface DiscTree {
  readonly kind: 'rock-ridge' | 'joliet' | 'iso9660' | 'udf';
  root(): DiscEntry;
  /** The children of a directory entry (never "." or ".."), with their paths filled in. */
  list(dir: DiscEntry): Promise<DiscEntry[]>;
}
