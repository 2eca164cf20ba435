/**
 * Reads a disk in large aligned blocks, a few ahead, and serves the small reads of a pipeline
 * that goes through it in order (compressed conversion asks for one cluster at a time). In the
 * page every Blob read is a round trip to the browser process: 64 KiB reads would cost more in
 * trips than in bytes.
 */
import type { DiskImage } from '../disk.ts';

export class ReadAhead {
  private readonly blocks = new Map<number, Promise<Uint8Array>>();

  constructor(
    private readonly image: DiskImage,
    private readonly blockSize = 16 << 20,
    private readonly ahead = 2,
  ) {}

  /** Bytes [offset, offset + length), a view into a block when it lies within one. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    const first = Math.floor(offset / this.blockSize);
    const last = Math.floor((offset + length - 1) / this.blockSize);
    // Blocks behind the reader are done with: requests come in order.
    for (const index of this.blocks.keys()) if (index < first - 1) this.blocks.delete(index);
    for (let index = first; index <= last + this.ahead; index++) this.fetch(index);
    if (first === last) {
      const block = await this.blocks.get(first)!;
      const at = offset - first * this.blockSize;
      return block.subarray(at, at + length);
    }
    const out = new Uint8Array(length);
    for (let index = first; index <= last; index++) {
      const block = await this.blocks.get(index)!;
      const blockStart = index * this.blockSize;
      const from = Math.max(offset, blockStart);
      const to = Math.min(offset + length, blockStart + block.length);
      out.set(block.subarray(from - blockStart, to - blockStart), from - offset);
    }
    return out;
  }

  private fetch(index: number): void {
    const start = index * this.blockSize;
    if (this.blocks.has(index) || start >= this.image.virtualSize) return;
    this.blocks.set(index, this.image.read(start, Math.min(this.blockSize, this.image.virtualSize - start)));
  }
}
