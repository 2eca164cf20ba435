/**
 * The partition table of a guest disk and the file system in each partition, read through the
 * DiskImage (so a qcow2 with a backing chain reads as the guest sees it). Only a few sectors are
 * read: the MBR, the GPT headers and entry arrays, the EBR chain, and each partition's superblock.
 *
 * Damage never throws: what can be worked around is reported in `warnings`. Only I/O errors from
 * the image itself propagate (as the DiskImgError the read raised).
 */
import { DiskImgError } from '../errors.ts';
import { openLogicalVolume, readVolumeGroup } from '../filesystems/lvm-volumes.ts';
import { fatGeometry, isExfatBootSector, ntfsGeometry, probeFilesystem } from '../filesystems/probe.ts';
import { readGpt } from './gpt.ts';
import { looksLikeMbr, mbrEntries, isUsed, readMbr } from './mbr.ts';
import { ByteSource, type GuestReader } from './source.ts';
import type { FilesystemInfo, Partition, PartitionReport } from './types.ts';

export type { FilesystemInfo, Partition, PartitionReport, PartitionType, VolumeInfo } from './types.ts';
export type { GuestReader } from './source.ts';

const GPT_PROTECTIVE = 0xee;

/** A FAT, NTFS or exFAT boot sector also ends in 0x55AA: it is a file system, not a partition table. */
const isVolumeBootRecord = (sector: Uint8Array): boolean =>
  fatGeometry(sector) !== null || ntfsGeometry(sector) !== null || isExfatBootSector(sector);

export async function detectPartitions(disk: GuestReader): Promise<PartitionReport> {
  const whole = ByteSource.whole(disk);
  const sector0 = await whole.read(0, 512);
  if (!sector0) return { scheme: 'none', partitions: [] };
  const mbr = !isVolumeBootRecord(sector0) && looksLikeMbr(sector0);
  const protective = mbr && mbrEntries(sector0).some((e) => isUsed(e) && e.type === GPT_PROTECTIVE);

  if (protective || !mbr) {
    const problems: string[] = [];
    for (const sectorSize of [512, 4096]) {
      const gpt = await readGpt(whole, sectorSize);
      if ('header' in gpt) {
        const warnings = [...gpt.warnings];
        if (!mbr) warnings.unshift('no protective MBR in sector 0');
        return finish(whole, {
          scheme: 'gpt',
          'sector-size': sectorSize,
          'disk-guid': gpt.header.diskGuid,
          partitions: gpt.partitions,
          warnings,
        });
      }
      if (gpt.signature) problems.push(...gpt.problems.map((p) => (sectorSize === 512 ? p : `${p} (4096-byte sectors)`)));
    }
    if (protective) {
      // A protective MBR whose GPT is unreadable: report the MBR as it stands, and why.
      const table = await readMbr(whole, sector0);
      return finish(whole, {
        scheme: 'mbr',
        'sector-size': 512,
        'disk-id': table.diskId,
        partitions: table.partitions,
        warnings: [...problems, 'no valid GPT behind the protective MBR', ...table.warnings],
      });
    }
    if (problems.length > 0)
      return { scheme: 'none', partitions: [], warnings: [...problems, 'a GPT signature was found but neither header is usable'] };
  } else {
    const table = await readMbr(whole, sector0);
    if (table.partitions.length > 0 || table.warnings.length > 0) {
      return finish(whole, {
        scheme: 'mbr',
        'sector-size': 512,
        'disk-id': table.diskId,
        partitions: table.partitions,
        warnings: table.warnings,
      });
    }
    // An empty MBR: a whole-disk file system (an isohybrid image, say) says more than an empty table.
    const filesystem = await probeFilesystem(whole);
    if (!filesystem) return { scheme: 'mbr', 'sector-size': 512, 'disk-id': table.diskId, partitions: [] };
    return wholeDisk(whole, filesystem);
  }

  const filesystem = await probeFilesystem(whole);
  if (!filesystem) return { scheme: 'none', partitions: [] };
  return wholeDisk(whole, filesystem);
}

async function wholeDisk(whole: ByteSource, filesystem: FilesystemInfo): Promise<PartitionReport> {
  const report: PartitionReport = {
    scheme: 'none',
    partitions: [{ index: 1, start: 0, size: whole.size, type: { name: 'whole disk' }, filesystem }],
    warnings: [],
  };
  await listVolumes(whole, report.partitions[0], report.warnings!);
  if (report.warnings!.length === 0) delete report.warnings;
  return report;
}

/** An LVM2 PV's logical volumes and the file system in each readable one; damage becomes a warning. */
async function listVolumes(source: ByteSource, p: Partition, warnings: string[]): Promise<void> {
  if (p.filesystem?.type !== 'LVM2_member') return;
  try {
    const vg = await readVolumeGroup(source);
    p.volumes = [];
    for (const lv of vg.volumes) {
      const filesystem = lv.segments ? await probeFilesystem(openLogicalVolume(source, vg, lv.name)) : null;
      p.volumes.push({ name: lv.name, size: lv.size, layout: lv.layout, filesystem, ...(lv.refusal ? { refusal: lv.refusal } : {}) });
    }
  } catch (error) {
    if (!(error instanceof DiskImgError) || error.kind === 'io') throw error;
    if (error.kind === 'not-found') {
      p.volumes = []; // a PV in no volume group
      return;
    }
    warnings.push(`${p.type.name === 'whole disk' ? 'the disk' : `partition ${p.index}`}: ${error.message}`);
  }
}

/** Probes every partition's file system and drops an empty warnings list. */
async function finish(whole: ByteSource, report: PartitionReport): Promise<PartitionReport> {
  for (const p of report.partitions) {
    // An extended partition holds EBRs, a protective entry the GPT: neither holds a file system.
    if (p.extended || p.type.code === 'ee') continue;
    p.filesystem = await probeFilesystem(whole.slice(p.start, p.size));
    await listVolumes(whole.slice(p.start, p.size), p, (report.warnings ??= []));
  }
  if (report.warnings && report.warnings.length === 0) delete report.warnings;
  return report;
}

/** True when the report has something to show: a partition table, or a file system on the whole disk. */
export const hasPartitionInfo = (report: PartitionReport): boolean =>
  report.scheme !== 'none' || report.partitions.length > 0 || (report.warnings?.length ?? 0) > 0;
