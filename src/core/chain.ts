/** A chain of layers read as one guest disk (QEMU's bdrv_block_status_above and the read path). */
import type { DiskImage } from './disk.ts';
import type { Extent, Layer } from './image.ts';

export class Chain implements DiskImage {
  constructor(
    readonly layers: readonly Layer[],
    readonly missingBacking?: string,
  ) {}

  get virtualSize(): number {
    return this.layers[0].virtualSize;
  }

  mappings(start = 0, end = this.virtualSize): AsyncGenerator<Extent> {
    return this.resolve(0, start, Math.min(end, this.virtualSize));
  }

  /**
   * Extents of layer `depth`, with its unallocated parts handed down to its backing file. Past the
   * end of a backing file the guest reads zeros, and that is the overlay's say (depth of the caller).
   */
  private async *resolve(depth: number, start: number, end: number): AsyncGenerator<Extent> {
    const layer = this.layers[depth];
    const ownEnd = Math.min(end, layer.virtualSize);
    for await (const extent of layer.mappings(start, ownEnd)) {
      if (extent.kind !== 'unallocated' || depth + 1 >= this.layers.length) {
        yield { ...extent, depth };
      } else {
        yield* this.resolve(depth + 1, extent.start, extent.start + extent.length);
      }
    }
    if (ownEnd < end)
      yield { start: Math.max(start, ownEnd), length: end - Math.max(start, ownEnd), kind: 'unallocated', depth: Math.max(0, depth - 1) };
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    // One data extent covering the whole range: the layer's own fresh buffer, without the copy
    // (in the page, a Blob read already gives a new buffer).
    if (offset + length <= this.virtualSize) {
      const extents = this.mappings(offset, offset + length);
      const first = await extents.next();
      await extents.return(undefined);
      const extent = first.done ? undefined : first.value;
      if (extent?.kind === 'data' && extent.start === offset && extent.length === length) {
        this.checkReadable(extent);
        return this.layers[extent.depth].readExtent(extent, offset, length);
      }
    }
    const out = new Uint8Array(length);
    await this.readInto(offset, out);
    return out;
  }

  async readInto(offset: number, target: Uint8Array): Promise<void> {
    // Past the end of the disk reads as zeros (the target may be a reused buffer).
    target.fill(0, Math.max(0, Math.min(target.length, this.virtualSize - offset)));
    const reading: Promise<void>[] = [];
    try {
      for await (const extent of this.mappings(offset, offset + target.length)) {
        const part = target.subarray(extent.start - offset, extent.start - offset + extent.length);
        if (extent.kind !== 'data' && extent.kind !== 'compressed') {
          part.fill(0);
          continue;
        }
        this.checkReadable(extent);
        const layer = this.layers[extent.depth];
        if (layer.readExtentInto && layer.concurrentReads) {
          const read = layer.readExtentInto(extent, extent.start, part);
          read.catch(() => {}); // surfaced when awaited below
          reading.push(read);
        } else if (layer.readExtentInto) await layer.readExtentInto(extent, extent.start, part);
        else part.set(await layer.readExtent(extent, extent.start, extent.length));
      }
      await Promise.all(reading);
    } finally {
      await Promise.allSettled(reading);
    }
  }

  /** Each overlay above the layer that holds an extent's bytes reads them through itself, and may refuse. */
  private checkReadable(extent: Extent): void {
    for (let above = 0; above < extent.depth; above++) {
      const refusal = this.layers[above].backingReadError?.(this.layers[above + 1]);
      if (refusal) throw refusal;
    }
  }

  async close(): Promise<void> {
    for (const layer of this.layers) {
      await layer.close?.();
      await layer.storage.close?.();
    }
  }
}
