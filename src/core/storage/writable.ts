/**
 * A file changed in place (qemu-img resize, snapshot): reads as a Storage, plus writes, a new
 * length and a barrier. Verbs that change an image order their writes so that a crash between
 * any two leaves an image QEMU opens: each step that makes earlier ones reachable comes after a
 * sync() that puts those on disk.
 */
import type { Storage } from './storage.ts';

export interface WritableStorage extends Storage {
  /** The length now (Storage.size is the length when opened). */
  length(): Promise<number>;
  write(offset: number, bytes: Uint8Array): Promise<void>;
  truncate(length: number): Promise<void>;
  /** Returns once every write before it is on disk (fdatasync). */
  sync(): Promise<void>;
}
