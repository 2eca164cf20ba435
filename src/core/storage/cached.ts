/**
 * A Storage that serves small reads from a few large cached blocks. In the page every Blob read is
 * a round trip to the browser process, and a compressed qcow2 is read one small cluster at a time:
 * reading 4 MiB once and cutting clusters out of it is what makes decompression fast there. Large
 * reads go straight through, and so do reads into the caller's buffer that are large or continue
 * the last one: the inner storage streams those (a Blob's stream is faster than its slices).
 */
import type { Storage } from './storage.ts';

export class CachedStorage implements Storage {
  private readonly blocks = new Map<number, Promise<Uint8Array>>();
  readonly readInto?: (offset: number, target: Uint8Array) => Promise<void>;
  /** Where the last readInto ended. */
  private nextExpected = Number.NaN;

  constructor(
    private readonly inner: Storage,
    private readonly blockSize = 4 << 20,
    private readonly maxBlocks = 8,
  ) {
    const innerReadInto = inner.readInto?.bind(inner);
    if (innerReadInto) {
      this.readInto = async (offset, target) => {
        const through = target.length >= this.blockSize / 2 || offset === this.nextExpected;
        this.nextExpected = offset + target.length;
        if (through) await innerReadInto(offset, target);
        else target.set(await this.read(offset, target.length));
      };
    }
  }

  get name(): string {
    return this.inner.name;
  }

  get size(): number {
    return this.inner.size;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (length >= this.blockSize / 2) return this.inner.read(offset, length);
    const first = Math.floor(offset / this.blockSize);
    const last = Math.floor((offset + Math.max(0, length - 1)) / this.blockSize);
    if (first === last) {
      const block = await this.block(first);
      const at = offset - first * this.blockSize;
      // A copy: callers own what read() returns, and a block is shared.
      const out = new Uint8Array(length);
      out.set(block.subarray(at, Math.min(block.length, at + length)));
      return out;
    }
    const out = new Uint8Array(length);
    for (let index = first; index <= last; index++) {
      const block = await this.block(index);
      const blockStart = index * this.blockSize;
      const from = Math.max(offset, blockStart);
      const to = Math.min(offset + length, blockStart + block.length);
      if (to > from) out.set(block.subarray(from - blockStart, to - blockStart), from - offset);
    }
    return out;
  }

  /**
   * A small read inside one block as a view of the cached block: a compressed qcow2 is read one
   * cluster at a time, and a fresh buffer for each (its page faults, then the collector) cost the
   * engine's thread more than the copy itself. Blocks are never written after they arrive.
   */
  async readShared(offset: number, length: number): Promise<Uint8Array> {
    const index = Math.floor(offset / this.blockSize);
    if (length >= this.blockSize / 2 || Math.floor((offset + Math.max(0, length - 1)) / this.blockSize) !== index) {
      return this.read(offset, length);
    }
    const block = await this.block(index);
    const at = offset - index * this.blockSize;
    // Past the end of the file: read() pads with zeros.
    return at + length <= block.length ? block.subarray(at, at + length) : this.read(offset, length);
  }

  private block(index: number): Promise<Uint8Array> {
    let block = this.blocks.get(index);
    if (block) {
      // Most recently used last: the Map's order is the eviction order.
      this.blocks.delete(index);
    } else {
      const start = index * this.blockSize;
      block =
        start >= this.inner.size
          ? Promise.resolve(new Uint8Array(0))
          : this.inner.read(start, Math.min(this.blockSize, this.inner.size - start));
      block.catch(() => this.blocks.delete(index)); // a failed read is not cached
    }
    this.blocks.set(index, block);
    while (this.blocks.size > this.maxBlocks) this.blocks.delete(this.blocks.keys().next().value!);
    return block;
  }

  close(): Promise<void> {
    this.blocks.clear();
    return this.inner.close?.() ?? Promise.resolve();
  }
}
