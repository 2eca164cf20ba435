/**
 * The partitions in a disc's system area (its first 32 KiB), as xorriso -report_system_area sees
 * them: the MBR of an isohybrid image (type 0x00 entries count when they have a size: isohybrid's
 * first partition covers the whole disc so), and a GPT at LBA 1 with 512-byte sectors even when
 * the MBR beside it is not protective (xorriso's -isohybrid-gpt-basdat writes such a pair).
 * Partitions that start where the ISO 9660 volume ends are marked as appended (-append_partition).
 */
import { probeFilesystem } from '../filesystems/probe.ts';
import { readGpt } from '../partitions/gpt.ts';
import type { Partition } from '../partitions/index.ts';
import { looksLikeMbr, mbrEntries, readMbr } from '../partitions/mbr.ts';
import { ByteSource } from '../partitions/source.ts';
import { mbrTypeName } from '../partitions/type-names.ts';
import type { Storage } from '../storage/storage.ts';

export interface SystemAreaPartition extends Partition {
  scheme: 'mbr' | 'gpt';
  /** Starts at or after the end of the ISO 9660 volume: added behind it (xorriso -append_partition). */
  appended?: boolean;
}

export interface SystemArea {
  mbr: boolean;
  gpt: boolean;
  /** The GPT's disk GUID, the MBR's disk identifier. */
  'disk-guid'?: string;
  'disk-id'?: string;
  partitions: SystemAreaPartition[];
  warnings?: string[];
}

export async function readSystemArea(storage: Storage, volumeEnd: number | undefined): Promise<SystemArea> {
  const whole = ByteSource.whole({ virtualSize: storage.size, read: (offset, length) => storage.read(offset, length) });
  const out: SystemArea = { mbr: false, gpt: false, partitions: [] };
  const warnings: string[] = [];
  const sector0 = await whole.read(0, 512);
  if (sector0 && looksLikeMbr(sector0)) {
    const table = await readMbr(whole, sector0);
    const listed = new Set(table.partitions.map((p) => p.index));
    // readMbr leaves out type 0x00; the kernel and xorriso list any entry with a size.
    for (const e of mbrEntries(sector0)) {
      if (e.type !== 0 || e.sectors === 0 || listed.has(e.slot + 1)) continue;
      table.partitions.push({
        index: e.slot + 1,
        start: e.start * 512,
        size: e.sectors * 512,
        type: { name: mbrTypeName(0), code: '0' },
        ...(e.bootIndicator === 0x80 ? { bootable: true } : {}),
        filesystem: null,
      });
    }
    table.partitions.sort((a, b) => a.index - b.index);
    if (table.partitions.length > 0) {
      out.mbr = true;
      out['disk-id'] = table.diskId;
      out.partitions.push(...table.partitions.map((p) => ({ scheme: 'mbr' as const, ...p })));
      warnings.push(...table.warnings);
    }
  }
  const gpt = await readGpt(whole, 512);
  if ('header' in gpt) {
    out.gpt = true;
    out['disk-guid'] = gpt.header.diskGuid;
    out.partitions.push(...gpt.partitions.map((p) => ({ scheme: 'gpt' as const, ...p })));
    warnings.push(...gpt.warnings);
  } else if (gpt.signature) warnings.push(...gpt.problems);
  for (const p of out.partitions) {
    if (volumeEnd !== undefined && volumeEnd > 0 && p.start >= volumeEnd) p.appended = true;
    // The entry covering the whole disc holds the ISO 9660 volume itself; others are probed.
    if (!p.extended && p.type.code !== 'ee') p.filesystem = await probeFilesystem(whole.slice(p.start, p.size));
  }
  if (warnings.length > 0) out.warnings = warnings;
  return out;
}
