/**
 * What file system (or volume format) a stretch of the guest disk holds, from its superblock.
 * Probes are tried most specific first; each reads only the sectors it needs.
 */
import type { ByteSource } from '../partitions/source.ts';
import type { FilesystemInfo } from '../partitions/types.ts';
import { probeBtrfs } from './btrfs.ts';
import { probeExfat } from './exfat.ts';
import { probeExt } from './ext.ts';
import { probeFat } from './fat.ts';
import { probeIso9660 } from './iso9660.ts';
import { probeLuks } from './luks.ts';
import { probeLvm } from './lvm.ts';
import { probeNtfs } from './ntfs.ts';
import { probeSwap } from './swap.ts';
import { probeXfs } from './xfs.ts';

type Probe = (source: ByteSource) => Promise<FilesystemInfo | null>;

const PROBES: readonly Probe[] = [
  probeLuks,
  probeLvm,
  probeXfs,
  probeExt,
  probeBtrfs,
  probeNtfs,
  probeExfat,
  probeFat,
  probeSwap,
  probeIso9660,
];

/** The same fields in one order whatever the probe, so JSON output reads alike. */
function ordered(fs: FilesystemInfo): FilesystemInfo {
  const out: FilesystemInfo = { type: fs.type };
  if (fs.label !== undefined) out.label = fs.label;
  if (fs.uuid !== undefined) out.uuid = fs.uuid;
  if (fs.version !== undefined) out.version = fs.version;
  if (fs.size !== undefined) out.size = fs.size;
  return out;
}

/** The file system in `source`, or null when no known superblock is there. */
export async function probeFilesystem(source: ByteSource): Promise<FilesystemInfo | null> {
  if (source.size < 512) return null;
  for (const probe of PROBES) {
    const found = await probe(source);
    if (found) return ordered(found);
  }
  return null;
}

export { fatGeometry } from './fat.ts';
export { isExfatBootSector } from './exfat.ts';
export { ntfsGeometry } from './ntfs.ts';
