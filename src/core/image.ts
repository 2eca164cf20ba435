import type { Storage } from './storage/storage.ts';

/**
 * What a guest byte range is made of, as one format layer sees it:
 * - data: bytes stored at `hostOffset` in the layer's data storage
 * - compressed: one whole cluster stored compressed at `hostOffset` (`compressedLength` bytes)
 * - zero: reads as zeros and hides anything below
 * - unallocated: this layer says nothing; the backing layer decides (zeros at the bottom)
 */
export type ExtentKind = 'data' | 'compressed' | 'zero' | 'unallocated';

export interface Extent {
  /** Guest offset in bytes. */
  start: number;
  length: number;
  kind: ExtentKind;
  /** Index of the layer that decided this extent: 0 is the image itself, 1 its backing file, … */
  depth: number;
  /** For data and compressed: where the bytes live in that layer's storage. */
  hostOffset?: number;
  /** For compressed: the bytes to read at hostOffset (sector-rounded, as QEMU reads them). */
  compressedLength?: number;
  /** For compressed: the guest offset of the cluster the extent lies in (it may cover part of it). */
  clusterStart?: number;
}

/** One format's view of one file: no knowledge of the chain below it. */
export interface Layer {
  readonly format: string;
  /** The image's storage (its name is the file name shown to users). */
  readonly storage: Storage;
  readonly virtualSize: number;
  /** Name of the backing file as stored in the image, if any. */
  readonly backingFilename?: string;
  readonly backingFormat?: string;
  /**
   * Extents of this layer covering [start, end) in guest order, adjacent ones merged when they are
   * of one kind (and, for data, contiguous on the host). Depth is always 0 here.
   */
  mappings(start: number, end: number): AsyncGenerator<Extent>;
  /** Reads `length` bytes of a data or compressed extent of this layer, from guest offset `start`. */
  readExtent(extent: Extent, start: number, length: number): Promise<Uint8Array>;
  /** The same, into `target` (its length is the length to read), avoiding a new buffer. */
  readExtentInto?(extent: Extent, start: number, target: Uint8Array): Promise<void>;
  close?(): Promise<void>;
}
