/**
 * What many readers share about their extents: merging the pieces they find into the fewest
 * extents, and reading data stored as it is in one file.
 */
import type { Extent } from '../image.ts';
import { readInto, type Storage } from '../storage/storage.ts';

/** Adjacent extents merge when they are of one kind and, where they have host bytes, contiguous there. */
export function mergeable(a: Extent, b: Extent): boolean {
  if (a.kind !== b.kind || a.kind === 'compressed' || a.start + a.length !== b.start) return false;
  if ((a.hostOffset === undefined) !== (b.hostOffset === undefined)) return false;
  return a.hostOffset === undefined || a.hostOffset + a.length === b.hostOffset;
}

/** Merges the pieces a layer yields in guest order into the fewest extents. */
export async function* merged(pieces: AsyncIterable<Extent>): AsyncGenerator<Extent> {
  let pending: Extent | undefined;
  for await (const piece of pieces) {
    if (pending && mergeable(pending, piece)) pending.length += piece.length;
    else {
      if (pending) yield pending;
      pending = { ...piece };
    }
  }
  if (pending) yield pending;
}

/** The bytes of a data extent stored as they are in `storage`; anything else reads as zeros. */
export function readStored(storage: Storage, extent: Extent, start: number, length: number): Promise<Uint8Array> {
  if (extent.kind !== 'data') return Promise.resolve(new Uint8Array(length));
  return storage.read(extent.hostOffset! + (start - extent.start), length);
}

/** readStored into the caller's buffer. */
export async function readStoredInto(storage: Storage, extent: Extent, start: number, target: Uint8Array): Promise<void> {
  if (extent.kind !== 'data') target.fill(0);
  else await readInto(storage, extent.hostOffset! + (start - extent.start), target);
}
