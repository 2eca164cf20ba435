/**
 * `qemu-img map` as data: the chain's mappings turned into qemu-img's entries (start, length,
 * depth, present, zero, data, offset) and merged the way qemu-img merges them (entry_mergeable).
 */
import type { DiskImage } from './disk.ts';
import type { Extent } from './image.ts';

export interface MapEntry {
  start: number;
  length: number;
  depth: number;
  present: boolean;
  zero: boolean;
  data: boolean;
  offset?: number;
  /** The file that holds the bytes at `offset` (the image, or its external data file). */
  filename?: string;
}

function toEntry(image: DiskImage, extent: Extent): MapEntry {
  // A layer without block status (as QEMU has it) claims all it covers, whatever lies beneath.
  const opaque = image.layers.findIndex((l, depth) => depth <= extent.depth && l.noBlockStatus);
  if (opaque >= 0) return { start: extent.start, length: extent.length, depth: opaque, present: true, zero: false, data: true };
  const layer = image.layers[extent.depth];
  const present = extent.kind !== 'unallocated';
  const entry: MapEntry = {
    start: extent.start,
    length: extent.length,
    depth: extent.depth,
    present,
    zero: extent.kind === 'zero' || extent.kind === 'unallocated',
    data: extent.kind === 'data' || extent.kind === 'compressed',
  };
  // Allocated clusters report their host offset even where a subcluster is unallocated; QEMU
  // reports none for encrypted images (their host bytes are not the guest's).
  const filename = layer.hostFile ? layer.hostFile(extent) : layer.storage.name;
  if (extent.hostOffset !== undefined && extent.kind !== 'compressed' && filename !== undefined) {
    entry.offset = extent.hostOffset;
    entry.filename = filename;
  }
  return entry;
}

function mergeable(a: MapEntry, b: MapEntry): boolean {
  if (a.length === 0) return false;
  if (a.zero !== b.zero || a.data !== b.data || a.depth !== b.depth || a.present !== b.present) return false;
  if ((a.offset === undefined) !== (b.offset === undefined) || a.filename !== b.filename) return false;
  return a.offset === undefined || a.offset + a.length === b.offset;
}

export async function* mapEntries(image: DiskImage, start = 0, end = image.virtualSize): AsyncGenerator<MapEntry> {
  let pending: MapEntry | undefined;
  // qemu-img map of an empty disk still prints one entry, of length 0.
  if (image.virtualSize === 0) yield { start: 0, length: 0, depth: 0, present: false, zero: false, data: false };
  for await (const extent of image.mappings(start, end)) {
    const entry = toEntry(image, extent);
    if (pending && mergeable(pending, entry)) {
      pending.length += entry.length;
      continue;
    }
    if (pending) yield pending;
    pending = entry;
  }
  if (pending) yield pending;
}
