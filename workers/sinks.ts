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
  const reason =
    name === 'QuotaExceededError'
      ? 'there is not enough free space (the browser’s storage quota or the disk is full)'
      : `${name}: ${(error as Error)?.message}`;
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
      throw new DiskImgError(
        'io',
        `Could not write ${bytes.length} bytes at offset ${offset} of the staged output (wrote ${written}): the browser's storage is probably full`,
        { offset },
      );
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

/** What the service worker's download stream says back over its port: "unheard" when the browser never took the download. */
export type StreamReply = 'more' | 'cancel' | 'unheard';

/**
 * A download streamed as it converts: each write goes over a MessagePort to the app's service
 * worker, which answers a one-off URL with a ReadableStream of them. Sequential (no truncate):
 * the engine then gives every byte in order. A write waits until the stream asks for more, so
 * no more than the stream's queue (a few MiB) is ever in memory.
 */
export class StreamSink implements Sink {
  private position = 0;
  private credit = false;
  private wake?: () => void;
  private stopped?: 'cancel' | 'unheard';

  constructor(private readonly port: MessagePort) {
    port.onmessage = (event: MessageEvent<StreamReply>) => {
      if (event.data === 'more') this.credit = true;
      else this.stopped = event.data;
      this.wake?.();
    };
    // The worker says nothing on the port until it hears the engine holds it (see sw-plugin.ts).
    port.postMessage({ hello: true });
  }

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    if (offset !== this.position)
      throw new DiskImgError('io', `A download stream can only append: a write at ${offset} came after ${this.position} bytes`, { offset });
    while (!this.credit && !this.stopped) await new Promise<void>((resolve) => (this.wake = resolve));
    if (this.stopped === 'unheard')
      throw new DiskImgError(
        'io',
        'The browser did not start the download (it was offered as a link, then in a frame, and neither was taken): nothing was saved; convert again',
      );
    if (this.stopped) throw new DiskImgError('aborted', 'The download was cancelled in the browser');
    this.credit = false;
    const chunk = bytes.slice();
    this.port.postMessage({ chunk }, [chunk.buffer]);
    this.position += bytes.length;
  }

  async close(): Promise<void> {
    this.port.postMessage({ done: true });
    this.port.close();
  }

  async abort(): Promise<void> {
    this.port.postMessage({ abort: true });
    this.port.close();
  }
}

/**
 * The last resort, for small outputs only (the page refuses big ones): the bytes are kept in
 * order and become a Blob, which the page downloads.
 */
export class BlobSink implements Sink {
  private readonly parts: Uint8Array<ArrayBuffer>[] = [];
  private position = 0;

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    if (offset !== this.position)
      throw new DiskImgError('io', `An in-memory output can only append: a write at ${offset} came after ${this.position} bytes`, {
        offset,
      });
    this.parts.push(bytes.slice());
    this.position += bytes.length;
  }

  async close(): Promise<void> {}

  blob(): Blob {
    return new Blob(this.parts, { type: 'application/octet-stream' });
  }

  async abort(): Promise<void> {
    this.parts.length = 0;
  }
}

/** Counts the bytes that reach the output: the speed shown is what is really written. */
export class CountingSink implements Sink {
  written = 0;
  /** The output file's size: its last byte written, or the size it was set to (holes count). */
  size = 0;
  readonly truncate?: (size: number) => Promise<void>;

  constructor(private readonly inner: Sink) {
    if (inner.truncate)
      this.truncate = async (size) => {
        await inner.truncate!(size);
        this.size = Math.max(this.size, size);
      };
  }

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    await this.inner.write(offset, bytes);
    this.written += bytes.length;
    this.size = Math.max(this.size, offset + bytes.length);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async abort(): Promise<void> {
    await this.inner.abort?.();
  }
}
