/** A raw disk: guest offset = file offset. The block layer rounds its size up to whole sectors. */
import type { Extent, Layer } from '../../image.ts';
import { readInto, type Storage } from '../../storage/storage.ts';

export class RawLayer implements Layer {
  readonly format = 'raw';
  readonly virtualSize: number;

  constructor(readonly storage: Storage) {
    this.virtualSize = Math.ceil(storage.size / 512) * 512;
  }

  async *mappings(start: number, end: number): AsyncGenerator<Extent> {
    end = Math.min(end, this.virtualSize);
    if (start < end) yield { start, length: end - start, kind: 'data', depth: 0, hostOffset: start };
  }

  async readExtent(_extent: Extent, start: number, length: number): Promise<Uint8Array> {
    return this.storage.read(start, length);
  }

  async readExtentInto(_extent: Extent, start: number, target: Uint8Array): Promise<void> {
    await readInto(this.storage, start, target);
  }
}
