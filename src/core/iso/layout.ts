/**
 * The disc along its byte range, for a picture: system area, descriptors (ISO 9660 and UDF),
 * path tables, directories, files, the boot catalog and boot images, partitions; `withGaps` adds
 * what nothing claims as "free". Adjacent regions of one kind
 * are merged, and the list is capped so a disc of 100 000 files stays a small picture.
 */
import type { Disc } from './disc.ts';
import { SECTOR } from './descriptors.ts';

export type RegionKind =
  'system-area' | 'descriptors' | 'path-tables' | 'directories' | 'files' | 'boot-catalog' | 'boot-image' | 'partition';

export interface Region {
  kind: RegionKind;
  offset: number;
  length: number;
  /** Which structure, where it says more than the kind: "udf" for UDF's descriptors, directories and tables; "mbr"/"gpt" for a partition. */
  detail?: string;
}

/** A region, or a stretch nothing we know of claims (free, padding, or data of a structure we do not read). */
export type LayoutSpan = Region | { kind: 'free'; offset: number; length: number; detail?: undefined };

const MAX_REGIONS = 4096;

export async function discLayout(disc: Disc): Promise<Region[]> {
  const regions: Region[] = [{ kind: 'system-area', offset: 0, length: 16 * SECTOR }];
  const p = disc.primary;
  if (disc.descriptors && p) {
    for (const offset of disc.descriptors.offsets) regions.push({ kind: 'descriptors', offset, length: SECTOR });
    for (const table of [p.pathTableL, p.pathTableM])
      if (table > 0) regions.push({ kind: 'path-tables', offset: table * SECTOR, length: p.pathTableSize });
    regions.push({ kind: 'directories', offset: p.root.extent * SECTOR, length: p.root.size });
  }
  const udf = disc.udfTree;
  if (udf) {
    const v = udf.volume;
    const udfRegion = (kind: RegionKind, offset: number, length: number) => regions.push({ kind, offset, length, detail: 'udf' });
    // The volume recognition sequence follows the ISO 9660 descriptors (or starts at sector 16).
    const vrsStart = disc.descriptors ? disc.descriptors.offsets[disc.descriptors.offsets.length - 1] + SECTOR : 16 * SECTOR;
    udfRegion('descriptors', vrsStart, 3 * SECTOR);
    for (const anchor of v.anchors) udfRegion('descriptors', anchor, v.blockSize);
    for (const sequence of v.sequences) udfRegion('descriptors', sequence.offset, sequence.length);
    if (v.integrity) udfRegion('descriptors', v.integrity.offset, v.integrity.length);
    udfRegion('descriptors', udf.fileSetOffset, v.blockSize);
    for (const table of v.tables) udfRegion('descriptors', table.offset, table.length);
  }
  if (disc.bootCatalog) {
    regions.push({ kind: 'boot-catalog', offset: disc.bootCatalog.offset, length: SECTOR });
    for (const entry of disc.bootCatalog.entries) regions.push({ kind: 'boot-image', offset: entry.offset, length: entry.loadSize });
  }
  for (const partition of disc.partitions)
    if (!partition.extended)
      regions.push({ kind: 'partition', offset: partition.start, length: partition.size, detail: partition.type.guid ? 'gpt' : 'mbr' });
  const tree = disc.tree;
  for await (const entry of disc.walk()) {
    if (entry.type === 'dir') {
      const ref = entry.ref as { extent?: number; size?: number; partition?: number; block?: number } | undefined;
      if (ref?.extent !== undefined) regions.push({ kind: 'directories', offset: ref.extent * SECTOR, length: ref.size ?? SECTOR });
      else if (udf && tree === udf && ref?.block !== undefined)
        regions.push({
          kind: 'directories',
          offset: udf.volume.offsetOf(ref.partition ?? 0, ref.block),
          length: udf.volume.blockSize,
          detail: 'udf',
        });
    } else
      for (const extent of entry.extents)
        if (extent.offset >= 0 && extent.length > 0) regions.push({ kind: 'files', offset: extent.offset, length: extent.length });
  }
  return coalesce(regions, disc.storage.size);
}

/** The regions with the stretches between them as "free", covering the image from byte 0 to its end. */
export function withGaps(regions: readonly Region[], size: number): LayoutSpan[] {
  const out: LayoutSpan[] = [];
  let at = 0;
  // Partitions overlap the ISO 9660 structures on a hybrid disc: gaps are measured between the others.
  for (const region of regions.filter((r) => r.kind !== 'partition')) {
    if (region.offset > at) out.push({ kind: 'free', offset: at, length: region.offset - at });
    out.push(region);
    at = Math.max(at, region.offset + region.length);
  }
  if (at < size) out.push({ kind: 'free', offset: at, length: size - at });
  return out;
}

/** Sorted, clipped to the image, neighbours of one kind merged; then the smallest gaps closed until few enough remain. */
export function coalesce(regions: Region[], size: number): Region[] {
  const sorted = regions
    .map((r) => ({ ...r, length: Math.max(0, Math.min(r.length, size - r.offset)) }))
    .filter((r) => r.length > 0 && r.offset < size)
    .sort((a, b) => a.offset - b.offset || a.kind.localeCompare(b.kind));
  let merged: Region[] = [];
  for (const region of sorted) {
    const last = merged[merged.length - 1];
    // Sector padding between two files is still "files" at this scale.
    if (last && last.kind === region.kind && last.detail === region.detail && region.offset <= last.offset + last.length + SECTOR)
      last.length = Math.max(last.length, region.offset + region.length - last.offset);
    else merged.push({ ...region });
  }
  for (let gap = SECTOR * 16; merged.length > MAX_REGIONS; gap *= 4) {
    if (gap > size) {
      // Kinds alternate too finely to merge: keep the largest regions, which are what shows anyway.
      merged = merged
        .sort((a, b) => b.length - a.length)
        .slice(0, MAX_REGIONS)
        .sort((a, b) => a.offset - b.offset);
      break;
    }
    const next: Region[] = [];
    for (const region of merged) {
      const last = next[next.length - 1];
      if (last && last.kind === region.kind && last.detail === region.detail && region.offset <= last.offset + last.length + gap)
        last.length = Math.max(last.length, region.offset + region.length - last.offset);
      else next.push(region);
    }
    merged = next;
  }
  return merged;
}
