/**
 * Reusable buffers for a pipeline: allocating a fresh multi-MiB buffer per read costs page faults
 * and garbage collection that dwarf the copy itself. A buffer goes back once its bytes are written.
 */
import type { BufferAllocator } from '../storage/storage.ts';

export class BufferPool implements BufferAllocator {
  /**
   * Whether reads should fill pooled buffers (readInto): every storage of the CLI and the page can
   * (files, and Blobs through their stream). One without readInto makes a fresh buffer per read
   * anyway, and copying that into a pooled one would be waste.
   */
  static fillsInPlace(image: { layers: readonly { storage: { readInto?: unknown } }[] }): boolean {
    return image.layers.every((layer) => layer.storage.readInto !== undefined);
  }

  /**
   * The buffers to read `image` into: those its top storage fills fastest when it has its own (a
   * Node file: page-aligned memory), else a pool of ordinary ones.
   */
  static forImage(image: { layers: readonly { storage: { buffers?: BufferAllocator } }[] }): BufferAllocator {
    return image.layers[0]?.storage.buffers ?? new BufferPool();
  }

  private readonly free = new Map<number, Uint8Array[]>();

  acquire(size: number): Uint8Array {
    return this.free.get(size)?.pop() ?? new Uint8Array(size);
  }

  release(buffer: Uint8Array): void {
    const list = this.free.get(buffer.length) ?? [];
    if (list.length < 16) list.push(buffer);
    this.free.set(buffer.length, list);
  }
}
