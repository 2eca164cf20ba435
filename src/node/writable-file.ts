// Node-only: a local file opened for reading and writing, for the CLI's verbs that work in place.
import { readSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { DiskImgError } from '../core/errors.ts';
import type { WritableStorage } from '../core/storage/writable.ts';

/**
 * Crash testing: DISKIMG_KILL_AFTER_WRITES=N kills the process (SIGKILL, no clean-up) as its Nth
 * write begins, so tests can stop a verb at every write boundary and check what it leaves.
 */
let writesLeft = Number(process.env.DISKIMG_KILL_AFTER_WRITES ?? 0) || Infinity;
function killPoint(): void {
  if (--writesLeft <= 0) process.kill(process.pid, 'SIGKILL');
}

export class NodeWritableFile implements WritableStorage {
  private constructor(
    private readonly handle: FileHandle,
    readonly name: string,
    readonly size: number,
  ) {}

  static async open(path: string): Promise<NodeWritableFile> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r+');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason =
        code === 'ENOENT'
          ? 'No such file or directory'
          : code === 'EACCES'
            ? 'Permission denied'
            : code === 'EISDIR'
              ? 'Is a directory'
              : String((error as Error).message);
      throw new DiskImgError(code === 'ENOENT' ? 'not-found' : 'io', `Could not open '${path}': ${reason}`, { file: path });
    }
    return new NodeWritableFile(handle, path, (await handle.stat()).size);
  }

  async length(): Promise<number> {
    return (await this.handle.stat()).size;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const target = new Uint8Array(length);
    await this.readInto(offset, target);
    return target;
  }

  /** Past the end reads zeros, as everywhere in the engine. */
  async readInto(offset: number, target: Uint8Array): Promise<void> {
    let done = 0;
    while (done < target.length) {
      let count: number;
      try {
        count = readSync(this.handle.fd, target, done, target.length - done, offset + done);
      } catch (error) {
        throw new DiskImgError('io', `Could not read '${this.name}' at offset ${offset + done}: ${(error as Error).message}`, {
          file: this.name,
          offset: offset + done,
        });
      }
      if (count === 0) break;
      done += count;
    }
    target.fill(0, done);
  }

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    killPoint();
    let done = 0;
    while (done < bytes.length) {
      let count: number;
      try {
        count = writeSync(this.handle.fd, bytes, done, bytes.length - done, offset + done);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        const reason = code === 'ENOSPC' ? 'No space left on device' : (error as Error).message;
        throw new DiskImgError('io', `Could not write to '${this.name}' at offset ${offset + done}: ${reason}`, {
          file: this.name,
          offset: offset + done,
        });
      }
      if (count <= 0)
        throw new DiskImgError('io', `Short write to '${this.name}' at offset ${offset + done}`, {
          file: this.name,
          offset: offset + done,
        });
      done += count;
    }
  }

  async truncate(length: number): Promise<void> {
    try {
      await this.handle.truncate(length);
    } catch (error) {
      throw new DiskImgError('io', `Could not resize '${this.name}' to ${length} bytes: ${(error as Error).message}`, {
        file: this.name,
        value: length,
      });
    }
  }

  async sync(): Promise<void> {
    await this.handle.datasync();
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
