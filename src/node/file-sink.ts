// Node-only: a sink writing a local file (the CLI and tests).
import { write as writeAsync, writeSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { DiskImgError } from '../core/errors.ts';
import type { Sink } from '../core/sink.ts';

/** Writes from this size up go to libuv's thread pool; smaller ones are done in place. */
const THREAD_POOL_MIN = 256 * 1024;

export class NodeFileSink implements Sink {
  /**
   * Only a regular file can keep holes (so only it has truncate: a device gets every byte, zeros
   * included, or old data would show through) and only it is removed on abort — never a device
   * node such as /dev/sdb.
   */
  readonly truncate?: (size: number) => Promise<void>;

  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
    private readonly regularFile: boolean,
  ) {
    if (regularFile) {
      this.truncate = async (size) => {
        await Promise.all([...this.inFlight].map((w) => w.landed));
        await this.handle.truncate(size);
      };
    }
  }

  /** Creates (or empties) the file at `path`. */
  static async create(path: string): Promise<NodeFileSink> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'w');
    } catch (error) {
      throw new DiskImgError('io', `Could not create '${path}': ${(error as Error).message}`, { file: path });
    }
    return new NodeFileSink(handle, path, (await handle.stat()).isFile());
  }

  readonly concurrent = true;
  /** Writes not yet landed, so that one overlapping them waits its turn. */
  private readonly inFlight = new Set<{ start: number; end: number; landed: Promise<void> }>();

  /**
   * Small writes (metadata) are a synchronous pwrite: a trip through libuv's thread pool costs
   * more than their copy. Large ones go to the thread pool, several at once: on a fresh file most
   * of a write's time is the kernel finding page-cache pages, which two threads do twice as fast,
   * while the main thread reads the next data. A write overlapping one still in flight waits for it.
   */
  write(offset: number, bytes: Uint8Array): Promise<void> {
    const end = offset + bytes.length;
    const earlier = [...this.inFlight].filter((w) => w.start < end && offset < w.end).map((w) => w.landed);
    if (earlier.length === 0 && bytes.length < THREAD_POOL_MIN) {
      try {
        this.writeAllSync(offset, bytes);
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const entry = { start: offset, end, landed: Promise.resolve() };
    entry.landed = Promise.all(earlier)
      .then(() => this.writeAll(offset, bytes))
      .finally(() => this.inFlight.delete(entry));
    this.inFlight.add(entry);
    return entry.landed;
  }

  private writeAllSync(offset: number, bytes: Uint8Array): void {
    for (let done = 0; done < bytes.length;) {
      let written: number;
      try {
        written = writeSync(this.handle.fd, bytes, done, bytes.length - done, offset + done);
      } catch (error) {
        throw this.failure(offset + done, error);
      }
      done += this.checked(offset + done, written);
    }
  }

  private async writeAll(offset: number, bytes: Uint8Array): Promise<void> {
    for (let done = 0; done < bytes.length;) {
      const written = await new Promise<number>((resolve, reject) =>
        writeAsync(this.handle.fd, bytes, done, bytes.length - done, offset + done, (error, n) =>
          error ? reject(this.failure(offset + done, error)) : resolve(n),
        ),
      );
      done += this.checked(offset + done, written);
    }
  }

  private failure(at: number, error: unknown): DiskImgError {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOSPC' ? 'No space left on device' : code === 'EDQUOT' ? 'Disk quota exceeded' : (error as Error).message;
    return new DiskImgError('io', `Could not write to '${this.path}' at offset ${at}: ${reason}`, { file: this.path, offset: at });
  }

  private checked(at: number, written: number): number {
    if (written <= 0) throw new DiskImgError('io', `Short write to '${this.path}' at offset ${at}`, { file: this.path, offset: at });
    return written;
  }

  async close(): Promise<void> {
    await Promise.all([...this.inFlight].map((w) => w.landed));
    await this.handle.close();
  }

  async abort(): Promise<void> {
    await Promise.allSettled([...this.inFlight].map((w) => w.landed));
    await this.handle.close().catch(() => {});
    if (this.regularFile) await unlink(this.path).catch(() => {});
  }
}
