/**
 * Where a conversion's output goes in the browser: both are seekable Sinks (the engine then writes
 * qcow2 in one pass and leaves raw holes unwritten).
 */
import { DiskImgError } from '../src/core/errors.ts';
import type { Sink } from '../src/core/sink.ts';

/** FileSystemSyncAccessHandle, as far as we use it (its types live in the WebWorker lib only). */
export interface SyncAccessHandle {
  write(buffer: Uint8Array, options: { at: number }): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}

/** A failed write as one clear error: a full disk or quota says so. */
function writeError(error: unknown, offset: number, length: number): DiskImgError {
  const name = (error as DOMException)?.name;
  const reason = name === 'QuotaExceededError' ? 'there is not enough free space (the browser’s storage quota or the disk is full)' : `${name}: ${(error as Error)?.message}`;
  return new DiskImgError('io', `Could not write ${length} bytes at offset ${offset} of the output: ${reason}`, { offset });
}

/** Opens an OPFS file for synchronous access (dedicated workers only). */
export function createSyncAccessHandle(handle: FileSystemFileHandle): Promise<SyncAccessHandle> {
  return (handle as unknown as { createSyncAccessHandle(): Promise<SyncAccessHandle> }).createSyncAccessHandle();
}

/**
 * An Origin Private File System file through a sync access handle (dedicated workers only): the
 * fast path, and the staging area where the save picker is missing.
 */
export class SyncAccessSink implements Sink {
  constructor(private readonly handle: SyncAccessHandle) {}

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    let written: number;
    try {
      written = this.handle.write(bytes, { at: offset });
    } catch (error) {
      throw writeError(error, offset, bytes.length);
    }
    // Chromium reports a full quota (incognito OPFS lives in memory) as a bogus count, not an error.
    if (written !== bytes.length) {
      throw new DiskImgError('io', `Could not write ${bytes.length} bytes at offset ${offset} of the staged output (wrote ${written}): the browser's storage is probably full`, { offset });
    }
  }

  async truncate(size: number): Promise<void> {
    this.handle.truncate(size);
  }

  /**
   * No flush(): it is an fsync (0.3 s per GiB measured), and a staged file is read back at once by
   * the download from the same page cache and removed after; durability across a power cut buys
   * nothing here.
   */
  async close(): Promise<void> {
    this.handle.close();
  }

  async abort(): Promise<void> {
    this.handle.close();
  }
}

/** A file the user chose with showSaveFilePicker: its writable stream takes positioned writes. */
export class WritableSink implements Sink {
  constructor(private readonly writable: FileSystemWritableFileStream) {}

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    try {
      await this.writable.write({ type: 'write', position: offset, data: bytes as Uint8Array<ArrayBuffer> });
    } catch (error) {
      throw writeError(error, offset, bytes.length);
    }
  }

  async truncate(size: number): Promise<void> {
    await this.writable.truncate(size);
  }

  /** Nothing is visible at the destination before this (Chromium writes to a swap file). */
  async close(): Promise<void> {
    await this.writable.close();
  }

  async abort(): Promise<void> {
    await this.writable.abort();
  }
}
