// Node-only: a Storage reading a local file (the CLI and tests).
import { read as readAsync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { DiskImgError } from '../core/errors.ts';
import type { Storage } from '../core/storage/storage.ts';
import { pageAlignedBuffers } from './aligned-buffers.ts';

/** Reads from this size up go to libuv's thread pool; smaller ones are done in place. */
const THREAD_POOL_MIN = 256 * 1024;

export class NodeFileStorage implements Storage {
  readonly buffers = pageAlignedBuffers;

  private constructor(
    private readonly handle: FileHandle,
    readonly name: string,
    readonly size: number,
  ) {}

  /** Opens read-only: the input is never written. */
  static async open(path: string): Promise<NodeFileStorage> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason =
        code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : String((error as Error).message);
      throw new DiskImgError(code === 'ENOENT' ? 'not-found' : 'io', `Could not open '${path}': ${reason}`, { file: path });
    }
    const stat = await handle.stat();
    if (stat.isDirectory()) {
      await handle.close();
      throw new DiskImgError('usage', `Could not open '${path}': Is a directory`, { file: path });
    }
    return new NodeFileStorage(handle, path, stat.size);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const buffer = new Uint8Array(length);
    await this.readInto(offset, buffer);
    return buffer;
  }

  /**
   * Small reads (tables, headers, compressed clusters) are a synchronous pread: from the page cache
   * it runs at memory speed, while a trip through libuv's thread pool costs more than their copy.
   * Large ones go to the thread pool, so that the pipeline's next reads run on the other core
   * while the main thread tests and hands over the current one.
   */
  async readInto(offset: number, target: Uint8Array): Promise<void> {
    const length = target.length;
    const threaded = length >= THREAD_POOL_MIN;
    let done = 0;
    while (done < length && offset + done < this.size) {
      const at = offset + done;
      const count = Math.min(length - done, this.size - at);
      let bytesRead: number;
      try {
        bytesRead = threaded
          ? await new Promise<number>((resolve, reject) =>
              readAsync(this.handle.fd, target, done, count, at, (error, n) => (error ? reject(error) : resolve(n))),
            )
          : readSync(this.handle.fd, target, done, count, at);
      } catch (error) {
        throw new DiskImgError('io', `Could not read '${this.name}' at offset ${at}: ${(error as Error).message}`, {
          file: this.name,
          offset: at,
        });
      }
      // The end came before the size the file had when it was opened: it shrank under us, and
      // what follows is not zeros but missing. Go on and the output would be silently wrong.
      if (bytesRead === 0) {
        throw new DiskImgError(
          'io',
          `'${this.name}' shrank while being read: it had ${this.size} bytes when opened, and ends before offset ${at} now`,
          { file: this.name, offset: at, value: this.size },
        );
      }
      done += bytesRead;
    }
    target.fill(0, done);
  }

  /** Bytes the file really occupies on disk (st_blocks × 512), as qemu-img's "disk size". */
  async allocatedBytes(): Promise<number> {
    const stat = await this.handle.stat();
    return stat.blocks * 512;
  }

  /**
   * Where the file holds data, up to `end`, as QEMU asks the file system with SEEK_DATA/SEEK_HOLE
   * (for qemu-img measure). Node has no such call, so the answer is pieced together from what it
   * has: a file with every block allocated is all data, one with none is all hole; in a partly
   * sparse file the blocks that hold something other than zeros are data, and so is a first block
   * of zeros when the file has more blocks allocated than that — qemu-img create, and QEMU when it
   * makes any raw file, writes one block of zeros at the start. Zeros written elsewhere in a
   * sparse file are the one case where this differs from QEMU: it counts them as data.
   */
  async *dataRuns(end: number): AsyncGenerator<[number, number]> {
    const stat = await this.handle.stat();
    const allocated = stat.blocks * 512;
    if (allocated >= this.size) {
      if (end > 0) yield [0, end];
      return;
    }
    if (allocated === 0) return;
    const block = stat.blksize > 0 ? stat.blksize : 4096;
    const isData = (bytes: Uint8Array) => new BigUint64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8).some((word) => word !== 0n);
    const chunk = new Uint8Array(Math.max(block, Math.floor((1 << 20) / block) * block));
    // A first block of zeros is data when some allocated block holds no data: that needs a count
    // of the data blocks first (a second read, only for such files).
    let firstBlockAllocated = false;
    if (!isData(await this.read(0, block))) {
      let dataBlocks = 0;
      for (let offset = 0; offset < end; offset += chunk.length) {
        await this.readInto(offset, chunk);
        for (let at = 0; at < chunk.length && offset + at < end; at += block) if (isData(chunk.subarray(at, at + block))) dataBlocks++;
      }
      firstBlockAllocated = allocated > dataBlocks * block;
    }
    let runStart = -1;
    for (let offset = 0; offset < end; offset += chunk.length) {
      await this.readInto(offset, chunk);
      for (let at = 0; at < chunk.length && offset + at < end; at += block) {
        const data = (offset === 0 && at === 0 && firstBlockAllocated) || isData(chunk.subarray(at, at + block));
        if (data && runStart < 0) runStart = offset + at;
        if (!data && runStart >= 0) {
          yield [runStart, offset + at];
          runStart = -1;
        }
      }
    }
    if (runStart >= 0) yield [runStart, end];
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
