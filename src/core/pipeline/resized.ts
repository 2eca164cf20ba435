/**
 * A disk read at another size, for a conversion that resizes as it goes (the page's "new virtual
 * size"): what `qemu-img convert` then `qemu-img resize` gives. Grown, the new end reads as zeros
 * and is unallocated; shrunk, the end is cut off — but only where it holds no data, since the
 * page writes a new file and has no reason to throw data away: a shrink below the last data byte
 * is refused with both numbers.
 */
import type { DiskImage } from '../disk.ts';
import { DiskImgError } from '../errors.ts';
import type { Extent } from '../image.ts';

/** qcow2 and qemu-img resize work in whole 512-byte sectors. */
const SECTOR = 512;

/** The end of the last byte the guest wrote (data or compressed), looking only at [from, end of disk). */
export async function dataEnd(image: DiskImage, from = 0): Promise<number> {
  let end = 0;
  for await (const extent of image.mappings(from, image.virtualSize)) {
    if (extent.kind === 'data' || extent.kind === 'compressed') end = extent.start + extent.length;
  }
  return end;
}

/**
 * `image` seen as a disk of `newSize` bytes. Throws a usage error, before anything is written, for
 * a size that is not whole sectors and for a shrink that would cut off data.
 */
export async function resizedImage(image: DiskImage, newSize: number): Promise<DiskImage> {
  if (!Number.isSafeInteger(newSize) || newSize <= 0 || newSize % SECTOR !== 0)
    throw new DiskImgError('usage', `The new size must be a whole number of 512-byte sectors, above 0 (${newSize} is not)`, {
      field: 'size',
      value: newSize,
    });
  const oldSize = image.virtualSize;
  if (newSize === oldSize) return image;
  if (newSize < oldSize) {
    const end = await dataEnd(image, newSize);
    if (end > newSize)
      throw new DiskImgError(
        'usage',
        `The disk holds data up to byte ${end}: it cannot be shrunk to ${newSize} bytes without losing it (the smallest size that keeps it all is ${Math.ceil(end / SECTOR) * SECTOR})`,
        { field: 'size', value: newSize, offset: end },
      );
  }
  const kept = Math.min(oldSize, newSize);

  async function* mappings(start = 0, end = newSize): AsyncGenerator<Extent> {
    end = Math.min(end, newSize);
    if (start < Math.min(end, kept)) {
      for await (const extent of image.mappings(start, Math.min(end, kept))) {
        const stop = Math.min(extent.start + extent.length, kept);
        if (stop > extent.start) yield stop === extent.start + extent.length ? extent : { ...extent, length: stop - extent.start };
      }
    }
    const grownFrom = Math.max(start, kept);
    if (end > grownFrom) yield { start: grownFrom, length: end - grownFrom, kind: 'unallocated', depth: 0 };
  }

  async function readInto(offset: number, target: Uint8Array): Promise<void> {
    const inside = Math.max(0, Math.min(target.length, kept - offset));
    if (inside > 0) await image.readInto(offset, target.subarray(0, inside));
    target.fill(0, inside);
  }

  return {
    layers: image.layers,
    virtualSize: newSize,
    missingBacking: image.missingBacking,
    mappings,
    readInto,
    async read(offset, length) {
      const bytes = new Uint8Array(length);
      await readInto(offset, bytes);
      return bytes;
    },
    close: () => image.close(),
  };
}
