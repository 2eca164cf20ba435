/**
 * MBR (DOS) partition tables: four primary entries in sector 0 and, inside an extended partition,
 * a chain of EBRs each holding one logical partition and a link to the next. Numbering follows
 * Linux: primaries 1–4 by slot, logical partitions from 5 in chain order. CHS fields are ignored.
 */
import { le32 } from './bytes.ts';
import type { ByteSource } from './source.ts';
import { isExtendedType, mbrTypeName } from './type-names.ts';
import type { Partition } from './types.ts';

const SECTOR = 512;
const TABLE = 446;
/** More logical partitions than any tool creates; a longer chain is treated as a loop. */
export const MAX_LOGICAL = 256;

export interface MbrEntry {
  slot: number;
  bootIndicator: number;
  type: number;
  /** In sectors, relative to what the entry is relative to. */
  start: number;
  sectors: number;
}

export const hasBootSignature = (sector: Uint8Array): boolean => sector[510] === 0x55 && sector[511] === 0xaa;

export function mbrEntries(sector: Uint8Array): MbrEntry[] {
  return [0, 1, 2, 3].map((slot) => {
    const at = TABLE + slot * 16;
    return { slot, bootIndicator: sector[at], type: sector[at + 4], start: le32(sector, at + 8), sectors: le32(sector, at + 12) };
  });
}

/** As libblkid: a boot signature and every boot indicator 0x00 or 0x80 (anything else is boot code, not a table). */
export function looksLikeMbr(sector: Uint8Array): boolean {
  return hasBootSignature(sector) && mbrEntries(sector).every((e) => e.bootIndicator === 0 || e.bootIndicator === 0x80);
}

export const isUsed = (e: MbrEntry): boolean => e.type !== 0 && e.sectors !== 0;

export interface MbrTable {
  diskId: string;
  partitions: Partition[];
  warnings: string[];
}

function partition(index: number, e: MbrEntry, startSector: number): Partition {
  const p = {
    index,
    start: startSector * SECTOR,
    size: e.sectors * SECTOR,
    type: { name: mbrTypeName(e.type), code: e.type.toString(16) },
  } as Partition;
  if (e.bootIndicator === 0x80) p.bootable = true;
  if (isExtendedType(e.type)) p.extended = true;
  p.filesystem = null; // last, so JSON lists it after the table's own fields
  return p;
}

export async function readMbr(disk: ByteSource, sector0: Uint8Array): Promise<MbrTable> {
  const warnings: string[] = [];
  const partitions: Partition[] = [];
  const diskSectors = Math.floor(disk.size / SECTOR);
  let extended: MbrEntry | undefined;
  for (const e of mbrEntries(sector0)) {
    if (!isUsed(e)) continue;
    partitions.push(partition(e.slot + 1, e, e.start));
    if (isExtendedType(e.type)) {
      if (extended) warnings.push(`partition ${e.slot + 1}: a second extended partition is ignored`);
      else extended = e;
    }
  }
  if (extended) partitions.push(...(await readLogical(disk, extended, diskSectors, warnings)));
  for (const p of partitions) {
    if (p.start + p.size > disk.size)
      warnings.push(`partition ${p.index} ends past the end of the disk (${p.start + p.size} > ${disk.size} bytes)`);
  }
  return { diskId: `0x${le32(sector0, 440).toString(16).padStart(8, '0')}`, partitions, warnings };
}

/** Walks the EBR chain: each link is relative to the extended partition, each logical start to its own EBR. */
async function readLogical(disk: ByteSource, extended: MbrEntry, diskSectors: number, warnings: string[]): Promise<Partition[]> {
  const out: Partition[] = [];
  const seen = new Set<number>();
  const base = extended.start;
  const end = Math.min(base + extended.sectors, diskSectors);
  let ebr = base;
  let index = 5;
  for (;;) {
    if (seen.has(ebr)) {
      warnings.push(`EBR chain loops back to sector ${ebr}; logical partitions after ${index - 1} are ignored`);
      break;
    }
    if (seen.size >= MAX_LOGICAL) {
      warnings.push(`EBR chain longer than ${MAX_LOGICAL} links; the rest is ignored`);
      break;
    }
    seen.add(ebr);
    if (ebr < base || ebr >= end) {
      warnings.push(`EBR at sector ${ebr} lies outside the extended partition (sectors ${base}–${end - 1}); the chain stops there`);
      break;
    }
    const sector = await disk.read(ebr * SECTOR, SECTOR);
    if (!sector || !hasBootSignature(sector)) {
      warnings.push(`EBR at sector ${ebr} has no 0x55AA signature; the chain stops there`);
      break;
    }
    let next: number | undefined;
    for (const e of mbrEntries(sector).slice(0, 2)) {
      if (!isUsed(e)) continue;
      if (isExtendedType(e.type)) next ??= base + e.start;
      else if (e.slot === 0) out.push(partition(index++, e, ebr + e.start));
    }
    if (next === undefined) break;
    ebr = next;
  }
  return out;
}
