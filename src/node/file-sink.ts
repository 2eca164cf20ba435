// Node-only: a sink writing a local file (the CLI and tests).
import { writeSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { DiskImgError } from '../core/errors.ts';
import type { Sink } from '../core/sink.ts';

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
    if (regularFile) this.truncate = (size) => this.handle.truncate(size);
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

  /**
   * Synchronous pwrite behind the async interface: into the page cache it runs at memory speed,
   * while a trip through libuv's thread pool per call costs more than the copy (bench/bench.ts).
   */
  async write(offset: number, bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      let bytesWritten: number;
      try {
        bytesWritten = writeSync(this.handle.fd, bytes, done, bytes.length - done, offset + done);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        const reason = code === 'ENOSPC' ? 'No space left on device' : code === 'EDQUOT' ? 'Disk quota exceeded' : (error as Error).message;
        throw new DiskImgError('io', `Could not write to '${this.path}' at offset ${offset + done}: ${reason}`, {
          file: this.path,
          offset: offset + done,
        });
      }
      if (bytesWritten <= 0)
        throw new DiskImgError('io', `Short write to '${this.path}' at offset ${offset + done}`, {
          file: this.path,
          offset: offset + done,
        });
      done += bytesWritten;
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  async abort(): Promise<void> {
    await this.handle.close().catch(() => {});
    if (this.regularFile) await unlink(this.path).catch(() => {});
  }
}
