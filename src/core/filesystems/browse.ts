/**
 * Opening a file system for browsing: which partition of a guest disk (as the partition table
 * numbers them), and which reader its superblock calls for.
 *
 *   const { source, partition } = await choosePartition(disk, 2);   // or undefined: the only one
 *   const fs = await openFileSystem(source);                         // FileSystem (tree.ts)
 *   for await (const entry of fs.walk()) …; for await (const chunk of fs.read(file)) …
 */
import type { CryptoProvider } from '../crypto/provider.ts';
import { DiskImgError } from '../errors.ts';
import { detectPartitions } from '../partitions/detect.ts';
import { ByteSource, type GuestReader } from '../partitions/source.ts';
import type { FilesystemInfo, Partition, VolumeInfo } from '../partitions/types.ts';
import { BtrfsReader } from './btrfs-reader.ts';
import { ExfatReader } from './exfat-reader.ts';
import { isExfatBootSector } from './exfat.ts';
import { ExtReader } from './ext-reader.ts';
import { FatReader } from './fat-reader.ts';
import { openLuksVolume } from './luks-volume.ts';
import { openLogicalVolume, readVolumeGroup, volumeName, type VolumeGroup } from './lvm-volumes.ts';
import { fatGeometry } from './fat.ts';
import { NtfsReader } from './ntfs-reader.ts';
import { ntfsGeometry } from './ntfs.ts';
import { probeFilesystem } from './probe.ts';
import { BROWSABLE, FileSystem } from './tree.ts';
import { XfsReader } from './xfs-reader.ts';

export { BROWSABLE };

export async function openFileSystem(source: ByteSource): Promise<FileSystem> {
  const ext = await source.read(1024, 1024);
  if (ext && ext[56] === 0x53 && ext[57] === 0xef) return new FileSystem(await ExtReader.open(source));
  const btrfs = await source.read(0x10040, 8);
  if (btrfs && String.fromCharCode(...btrfs) === '_BHRfS_M') return new FileSystem(await BtrfsReader.open(source));
  const bs = await source.read(0, 512);
  if (bs && String.fromCharCode(...bs.subarray(0, 4)) === 'XFSB') return new FileSystem(await XfsReader.open(source));
  if (bs && ntfsGeometry(bs)) return new FileSystem(await NtfsReader.open(source));
  if (bs && isExfatBootSector(bs)) return new FileSystem(await ExfatReader.open(source));
  if (bs && fatGeometry(bs)) return new FileSystem(await FatReader.open(source));
  const found = await probeFilesystem(source);
  if (found)
    throw new DiskImgError('unsupported', `${found.type} file systems cannot be browsed (yet): only ${BROWSABLE.join(', ')}`, {
      field: 'file system',
      value: found.type,
    });
  throw new DiskImgError('invalid-format', 'No file system was recognised here', { field: 'file system' });
}

const fsName = (fs: FilesystemInfo | null) => (fs ? `${fs.type}${fs.label ? ` "${fs.label}"` : ''}` : 'no file system');

const describeVolume = (v: VolumeInfo) => `${v.name} (${v.refusal ? v.layout : fsName(v.filesystem)}, ${v.size} bytes)`;

const describe = (p: Partition) =>
  p.volumes
    ? `${p.index} (LVM2 physical volume: ${p.volumes.map(describeVolume).join(', ') || 'no logical volumes'})`
    : `${p.index} (${fsName(p.filesystem)}, ${p.size} bytes)`;

export interface ChosenVolume {
  source: ByteSource;
  partition: Partition;
  /** The LVM logical volume ("vg/lv") inside the partition, when the file system is in one. */
  volume?: string;
}

/** The LV named `spec` on the PV in `p`, opened; an error names the volumes there are. */
async function chooseVolume(disk: GuestReader, p: Partition, spec: string): Promise<ChosenVolume> {
  const pv = ByteSource.whole(disk).slice(p.start, p.size);
  const vg = await readVolumeGroup(pv);
  const source = openLogicalVolume(pv, vg, spec);
  return { source, partition: p, volume: volumeName(spec).includes('/') ? volumeName(spec) : `${vg.name}/${volumeName(spec)}` };
}

/** A PV chosen without --volume: its one volume with a file system, or an error listing them. */
async function onlyVolume(disk: GuestReader, p: Partition, where: string): Promise<ChosenVolume> {
  // Volumes not listed: its metadata could not be read, and reading it again says why.
  if (!p.volumes) await readVolumeGroup(ByteSource.whole(disk).slice(p.start, p.size));
  const withFs = (p.volumes ?? []).filter((v) => v.filesystem && !v.refusal);
  if (withFs.length === 1) return chooseVolume(disk, p, withFs[0].name);
  throw new DiskImgError(
    'usage',
    `${where} is an LVM2 physical volume: choose a logical volume (--volume VG/LV): ${(p.volumes ?? []).map(describeVolume).join('; ') || 'it has none'}`,
    { field: 'volume' },
  );
}

/**
 * The stretch of the disk to browse: partition `index` as the table numbers it (logical MBR
 * partitions from 5), and inside an LVM2 physical volume the logical volume `volume` ("vg/lv",
 * "/dev/vg/lv"); without them, the file system on the whole disk or the only one there is.
 */
export async function choosePartition(disk: GuestReader, index?: number, volume?: string, unlock?: Unlock): Promise<ChosenVolume> {
  const chosen = await chooseSlice(disk, index, volume);
  if (chosen.partition.filesystem?.type !== 'crypto_LUKS' || chosen.volume) return chosen;
  const opened = await unlockPartition(chosen, unlock);
  // LVM inside LUKS, as distribution installers lay disks out.
  const inner = await probeFilesystem(opened.source);
  if (inner?.type === 'LVM2_member') return { ...opened, ...(await volumeInside(opened.source, volume)) };
  if (volume !== undefined)
    throw new DiskImgError(
      'usage',
      `The encrypted partition holds ${fsName(inner)}, not an LVM2 physical volume: it has no logical volume ${volume}`,
      {
        field: 'volume',
        value: volume,
      },
    );
  return opened;
}

/** An LV inside an unlocked PV: the one named, or the only one holding a file system. */
async function volumeInside(pv: ByteSource, spec: string | undefined): Promise<{ source: ByteSource; volume: string }> {
  const vg = await readVolumeGroup(pv);
  if (spec !== undefined) {
    const source = openLogicalVolume(pv, vg, spec);
    const name = volumeName(spec);
    return { source, volume: name.includes('/') ? name : `${vg.name}/${name}` };
  }
  const volumes = await describeVolumes(pv, vg);
  const withFs = volumes.filter((v) => v.filesystem && !v.refusal);
  if (withFs.length === 1) return { source: openLogicalVolume(pv, vg, withFs[0].name), volume: withFs[0].name };
  throw new DiskImgError(
    'usage',
    `The encrypted partition holds an LVM2 physical volume: choose a logical volume (--volume VG/LV): ${volumes.map((v) => `${v.name} (${v.refusal ? v.layout : fsName(v.filesystem)}, ${v.size} bytes)`).join('; ') || 'it has none'}`,
    { field: 'volume' },
  );
}

/** Each logical volume of `vg` (on `pv`), with the file system in each readable one. */
async function describeVolumes(pv: ByteSource, vg: VolumeGroup): Promise<VolumeInfo[]> {
  const out: VolumeInfo[] = [];
  for (const lv of vg.volumes) {
    const filesystem = lv.segments ? await probeFilesystem(openLogicalVolume(pv, vg, lv.name)) : null;
    out.push({ name: lv.name, size: lv.size, layout: lv.layout, filesystem, ...(lv.refusal ? { refusal: lv.refusal } : {}) });
  }
  return out;
}

/**
 * What an encrypted partition holds once unlocked, for the page to offer a choice: the logical
 * volumes of the LVM2 physical volume inside (each with its file system), or null when it holds
 * no PV (a file system, or nothing the page can choose in). A wrong passphrase is an error, as in
 * choosePartition.
 */
export async function volumesInsideLuks(disk: GuestReader, index: number | undefined, unlock: Unlock): Promise<VolumeInfo[] | null> {
  const chosen = await chooseSlice(disk, index);
  if (chosen.partition.filesystem?.type !== 'crypto_LUKS') return null;
  const opened = await unlockPartition(chosen, unlock);
  if ((await probeFilesystem(opened.source))?.type !== 'LVM2_member') return null;
  return describeVolumes(opened.source, await readVolumeGroup(opened.source));
}

async function unlockPartition(chosen: ChosenVolume, unlock: Unlock | undefined): Promise<ChosenVolume> {
  const where = chosen.partition.type.name === 'whole disk' ? 'The disk' : `Partition ${chosen.partition.index}`;
  if (!unlock)
    throw new DiskImgError(
      'needs-passphrase',
      `${where} is encrypted (LUKS${chosen.partition.filesystem?.version ?? ''}): its passphrase is needed`,
      {
        field: 'key-secret',
      },
    );
  try {
    return { ...chosen, source: await openLuksVolume(chosen.source, unlock.passphrase, unlock.crypto) };
  } catch (error) {
    if (error instanceof DiskImgError) throw new DiskImgError(error.kind, `${where} (LUKS): ${error.message}`, error.context);
    throw error;
  }
}

/** A passphrase for a LUKS partition, and the primitives to derive and decipher with. */
export interface Unlock {
  passphrase: string | Uint8Array;
  crypto: CryptoProvider;
}

async function chooseSlice(disk: GuestReader, index?: number, volume?: string): Promise<ChosenVolume> {
  const report = await detectPartitions(disk);
  const real = report.partitions.filter((p) => !p.extended && p.type.code !== 'ee');
  const listing = () => real.map(describe).join('; ');
  if (index !== undefined) {
    const p = real.find((q) => q.index === index);
    const container = report.partitions.find((q) => q.index === index && (q.extended || q.type.code === 'ee'));
    if (container)
      throw new DiskImgError(
        'usage',
        `Partition ${index} is ${container.extended ? 'an extended partition (a container of logical partitions, numbered from 5)' : 'a protective entry'}: it holds no file system; partitions: ${listing()}`,
        { field: 'partition', value: index },
      );
    if (!p) {
      const list = real.length ? listing() : 'none';
      throw new DiskImgError(
        'not-found',
        `There is no partition ${index}${report.scheme === 'none' ? ' (the disk has no partition table)' : ''}; partitions: ${list}`,
        { field: 'partition', value: index },
      );
    }
    if (p.filesystem?.type === 'LVM2_member')
      return volume === undefined ? onlyVolume(disk, p, `Partition ${index}`) : chooseVolume(disk, p, volume);
    // Encrypted: its volumes are looked for once it is unlocked.
    if (p.filesystem?.type === 'crypto_LUKS') return { source: ByteSource.whole(disk).slice(p.start, p.size), partition: p };
    if (volume !== undefined)
      throw new DiskImgError(
        'usage',
        `Partition ${index} holds ${fsName(p.filesystem)}, not an LVM2 physical volume: it has no logical volume ${volume}`,
        {
          field: 'volume',
          value: volume,
        },
      );
    return { source: ByteSource.whole(disk).slice(p.start, p.size), partition: p };
  }
  if (volume !== undefined) {
    const wanted = volumeName(volume);
    const pvs = real.filter((p) => p.filesystem?.type === 'LVM2_member');
    const holder = pvs.find((p) => p.volumes?.some((v) => v.name === wanted || v.name.endsWith(`/${wanted}`)));
    if (holder) return chooseVolume(disk, holder, volume);
    if (pvs.length === 1) return chooseVolume(disk, pvs[0], volume); // its error says what is wrong
    const encrypted = real.filter((p) => p.filesystem?.type === 'crypto_LUKS');
    if (pvs.length === 0 && encrypted.length === 1)
      return { source: ByteSource.whole(disk).slice(encrypted[0].start, encrypted[0].size), partition: encrypted[0] };
    throw new DiskImgError(
      'not-found',
      pvs.length === 0
        ? `There is no LVM2 physical volume on the disk, so no logical volume ${volume}${real.length ? `; partitions: ${listing()}` : ''}`
        : `No logical volume ${volume} was found; partitions: ${listing()}`,
      { field: 'volume', value: volume },
    );
  }
  // Places a file system may be: a partition's own, or each readable logical volume's.
  const places = real.flatMap((p): Array<{ p: Partition; volume?: string }> =>
    p.volumes
      ? p.volumes.filter((v) => v.filesystem && !v.refusal).map((v) => ({ p, volume: v.name }))
      : p.filesystem
        ? [{ p, volume: undefined }]
        : [],
  );
  if (places.length === 1) {
    const { p, volume: lv } = places[0];
    if (lv) return chooseVolume(disk, p, lv);
    if (p.filesystem?.type === 'LVM2_member')
      return onlyVolume(disk, p, p.type.name === 'whole disk' ? 'The disk' : `Partition ${p.index}`);
    return { source: ByteSource.whole(disk).slice(p.start, p.size), partition: p };
  }
  if (places.length === 0) {
    const pv = real.find((p) => p.volumes);
    if (pv) return onlyVolume(disk, pv, pv.type.name === 'whole disk' ? 'The disk' : `Partition ${pv.index}`);
    throw new DiskImgError(
      'not-found',
      `No file system was found on the disk${real.length ? `; partitions: ${listing()}` : report.scheme === 'none' ? '' : ` (its ${report.scheme.toUpperCase()} partition table is empty)`}`,
      { field: 'partition' },
    );
  }
  const lvs = places.some((place) => place.volume);
  throw new DiskImgError(
    'usage',
    `The disk has ${places.length} file systems: choose a partition (--partition N)${lvs ? ' or a logical volume (--volume VG/LV)' : ''}: ${listing()}`,
    { field: 'partition' },
  );
}
