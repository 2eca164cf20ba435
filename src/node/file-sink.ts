// Node-only: a sink writing a local file (the CLI and tests).
import { writeSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { DiskImgError } from '../core/errors.ts';
import type { Sink } from '../core/sink.ts';

export class NodeFileSink implements Sink {
  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
  ) {}

  /** Creates (or empties) the file at `path`. */
  static async create(path: string): Promise<NodeFileSink> {
    try {
      return new NodeFileSink(await open(path, 'w'), path);
    } catch (error) {
      throw new DiskImgError('io', `Could not create '${path}': ${(error as Error).message}`, { file: path });
    }
  }

  /**
   * Synchronous pwrite behind the async interface: into the page cache it runs at memory speed,
   * while a trip through libuv's thread pool per call costs more than the copy (bench/bench.ts).
   */
  async write(offset: number, bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const bytesWritten = writeSync(this.handle.fd, bytes, done, bytes.length - done, offset + done);
      if (bytesWritten <= 0) throw new DiskImgError('io', `Short write to '${this.path}' at offset ${offset + done}`, { file: this.path, offset: offset + done });
      done += bytesWritten;
    }
  }

  async truncate(size: number): Promise<void> {
    await this.handle.truncate(size);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  async abort(): Promise<void> {
    await this.handle.close().catch(() => {});
    await unlink(this.path).catch(() => {});
  }
}
