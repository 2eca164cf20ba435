/**
 * The disc along its byte range, for a picture: system area, descriptors, path tables,
 * directories, files, the boot catalog and boot images, partitions. Adjacent regions of one kind
 * are merged, and the list is capped so a disc of 100 000 files stays a small picture.
 */
import type { Disc } from './disc.ts';
import { SECTOR } from './descriptors.ts';

export type RegionKind = 'system-area' | 'descriptors' | 'path-tables' | 'directories' | 'files' | 'boot-catalog' | 'boot-image' | 'partition';

export interface Region {
  kind: RegionKind;
  offset: number;
  length: number;
}

const MAX_REGIONS = 4096;

export async function discLayout(disc: Disc): Promise<Region[]> {
  const regions: Region[] = [{ kind: 'system-area', offset: 0, length: 16 * SECTOR }];
  for (const offset of disc.descriptors.offsets) regions.push({ kind: 'descriptors', offset, length: SECTOR });
  const p = disc.primary;
  for (const table of [p.pathTableL, p.pathTableM]) if (table > 0) regions.push({ kind: 'path-tables', offset: table * SECTOR, length: p.pathTableSize });
  regions.push({ kind: 'directories', offset: p.root.extent * SECTOR, length: p.root.size });
  if (disc.bootCatalog) {
    regions.push({ kind: 'boot-catalog', offset: disc.bootCatalog.offset, length: SECTOR });
    for (const entry of disc.bootCatalog.entries) regions.push({ kind: 'boot-image', offset: entry.offset, length: entry.loadSize });
  }
  for (const partition of disc.partitions) if (!partition.extended) regions.push({ kind: 'partition', offset: partition.start, length: partition.size });
  for await (const entry of disc.walk()) {
    if (entry.type === 'dir') {
      const ref = entry.ref as { extent?: number; size?: number } | undefined;
      if (ref?.extent !== undefined) regions.push({ kind: 'directories', offset: ref.extent * SECTOR, length: ref.size ?? SECTOR });
    } else for (const extent of entry.extents) if (extent.offset >= 0 && extent.length > 0) regions.push({ kind: 'files', offset: extent.offset, length: extent.length });
  }
  return coalesce(regions, disc.storage.size);
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
    if (last && last.kind === region.kind && region.offset <= last.offset + last.length + SECTOR) last.length = Math.max(last.length, region.offset + region.length - last.offset);
    else merged.push({ ...region });
  }
  for (let gap = SECTOR * 16; merged.length > MAX_REGIONS; gap *= 4) {
    if (gap > size) {
      // Kinds alternate too finely to merge: keep the largest regions, which are what shows anyway.
      merged = merged.sort((a, b) => b.length - a.length).slice(0, MAX_REGIONS).sort((a, b) => a.offset - b.offset);
      break;
    }
    const next: Region[] = [];
    for (const region of merged) {
      const last = next[next.length - 1];
      if (last && last.kind === region.kind && region.offset <= last.offset + last.length + gap) last.length = Math.max(last.length, region.offset + region.length - last.offset);
      else next.push(region);
    }
    merged = next;
  }
  return merged;
}
