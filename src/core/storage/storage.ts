/**
 * A random-access, read-only byte device. Reads never come back short: bytes past the end of
 * the device read as zeros, as QEMU's file protocol does for a short read.
 */
export interface Storage {
  /** A name for messages and for resolving relative backing files (a path in Node, a file name in the browser). */
  readonly name: string;
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Reads into `target` (zero-filled past the end), where the platform can avoid a new buffer. */
  readInto?(offset: number, target: Uint8Array): Promise<void>;
  /**
   * The same bytes as read(), but maybe a view of a buffer the storage keeps, where it has them
   * (no new buffer, no copy): the caller only reads them, never writes to them.
   */
  readShared?(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Buffers this storage fills fastest, where that differs from any Uint8Array: a Node file is
   * read several times faster into page-aligned memory (the kernel's copy slows down on a
   * destination that is not cache-line aligned, and large Uint8Arrays are 16 bytes off).
   */
  readonly buffers?: BufferAllocator;
  close?(): Promise<void>;
}

/** Hands out buffers of a given length and takes them back once their bytes are used. */
export interface BufferAllocator {
  acquire(length: number): Uint8Array;
  release(buffer: Uint8Array): void;
}

/** Fills `target` from `storage`, through readInto when it has one. */
export async function readInto(storage: Storage, offset: number, target: Uint8Array): Promise<void> {
  if (storage.readInto) await storage.readInto(offset, target);
  else target.set(await storage.read(offset, target.length));
}

/** Copies `bytes` into a zero-filled buffer of `length` when a read ran past the end. */
export function padToLength(bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length === length) return bytes;
  const out = new Uint8Array(length);
  out.set(bytes.subarray(0, length));
  return out;
}

export class MemoryStorage implements Storage {
  constructor(
    private readonly bytes: Uint8Array,
    readonly name = 'memory',
  ) {}

  get size(): number {
    return this.bytes.length;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const end = Math.min(offset + length, this.bytes.length);
    const slice = offset < end ? this.bytes.slice(offset, end) : new Uint8Array(0);
    return padToLength(slice, length);
  }
}
