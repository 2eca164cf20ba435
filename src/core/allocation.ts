/**
 * The allocation picture: how many bytes of each kind (data, compressed, zeros, unallocated, or
 * held by a backing layer) fall into each of N equal parts of a guest range. Drawn by the UI as a
 * bar; computed from the one mappings iterator, so it agrees with `map` and with conversion.
 * Cost is O(extents + buckets) whatever the disk size: a 4 TiB sparse disk is a handful of extents.
 */
import type { DiskImage } from './disk.ts';
import { DiskImgError } from './errors.ts';
import type { Extent, Layer } from './image.ts';

/**
 * The classes, in the order their byte counts are stored per bucket. `missing` is what the chain
 * leaves to a backing file that was not given (a partial chain): not zeros, just unknown.
 */
export const ALLOCATION_CLASSES = ['data', 'compressed', 'zero', 'unallocated', 'backing', 'missing'] as const;
export type AllocationClass = (typeof ALLOCATION_CLASSES)[number];
const CLASS_COUNT = ALLOCATION_CLASSES.length;
export const MAX_BUCKETS = 8192;

export interface AllocationPicture {
  start: number;
  end: number;
  bucketSize: number;
  /** bytes[bucket * classes + class]: bytes of that class in the bucket (classes as ALLOCATION_CLASSES). */
  bytes: Float64Array;
  /** Bytes of each class over the whole range. */
  totals: Record<AllocationClass, number>;
}

export function classify(extent: Extent, chainIsPartial = false): AllocationClass {
  if (extent.depth > 0 && (extent.kind === 'data' || extent.kind === 'compressed')) return 'backing';
  if (extent.kind === 'unallocated' && chainIsPartial) return 'missing';
  return extent.kind;
}

export async function allocationPicture(image: DiskImage, buckets: number, start = 0, end = image.virtualSize): Promise<AllocationPicture> {
  end = Math.min(end, image.virtualSize);
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > MAX_BUCKETS) {
    throw new DiskImgError('usage', `The picture needs 1 to ${MAX_BUCKETS} parts, not ${buckets}`, { field: 'buckets', value: buckets });
  }
  if (!(start >= 0 && start <= end))
    throw new DiskImgError('usage', `Invalid range ${start}–${end}`, { field: 'range', value: `${start}-${end}` });
  const bucketSize = (end - start) / buckets;
  const bytes = new Float64Array(buckets * CLASS_COUNT);
  const totals = Object.fromEntries(ALLOCATION_CLASSES.map((c) => [c, 0])) as Record<AllocationClass, number>;
  for await (const extent of image.mappings(start, end)) {
    const kind = classify(extent, image.missingBacking !== undefined);
    const slot = ALLOCATION_CLASSES.indexOf(kind);
    totals[kind] += extent.length;
    let at = extent.start;
    const stop = extent.start + extent.length;
    // Each step fills one bucket, so the loop ends after at most `buckets` steps whatever the
    // float rounding at bucket edges.
    for (let bucket = Math.min(buckets - 1, Math.floor((at - start) / bucketSize)); at < stop && bucket < buckets; bucket++) {
      const bucketEnd = bucket === buckets - 1 ? end : start + (bucket + 1) * bucketSize;
      const part = Math.min(stop, bucketEnd) - at;
      if (part <= 0) continue;
      bytes[bucket * CLASS_COUNT + slot] += part;
      at += part;
    }
  }
  return { start, end, bucketSize, bytes, totals };
}

export interface LayerHoldings {
  /** Bytes this layer itself stores (data and compressed clusters), in guest terms. */
  held: number;
  zero: number;
}

/** How much of the guest disk one layer of a chain holds by itself. */
export async function layerHoldings(layer: Layer): Promise<LayerHoldings> {
  let held = 0;
  let zero = 0;
  for await (const extent of layer.mappings(0, layer.virtualSize)) {
    if (extent.kind === 'data' || extent.kind === 'compressed') held += extent.length;
    else if (extent.kind === 'zero') zero += extent.length;
  }
  return { held, zero };
}
