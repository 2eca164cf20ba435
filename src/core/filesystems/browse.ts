/**
 * Opening a file system for browsing: which partition of a guest disk (as the partition table
 * numbers them), and which reader its superblock calls for.
 *
 *   const { source, partition } = await choosePartition(disk, 2);   // or undefined: the only one
 *   const fs = await openFileSystem(source);                         // FileSystem (tree.ts)
 *   for await (const entry of fs.walk()) …; for await (const chunk of fs.read(file)) …
 */
import { DiskImgError } from '../errors.ts';
import { detectPartitions } from '../partitions/detect.ts';
import { ByteSource, type GuestReader } from '../partitions/source.ts';
import type { Partition } from '../partitions/types.ts';
import { BtrfsReader } from './btrfs-reader.ts';
import { ExfatReader } from './exfat-reader.ts';
import { isExfatBootSector } from './exfat.ts';
import { ExtReader } from './ext-reader.ts';
import { FatReader } from './fat-reader.ts';
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

const describe = (p: Partition) =>
  `${p.index} (${p.filesystem ? p.filesystem.type : 'no file system'}${p.filesystem?.label ? ` "${p.filesystem.label}"` : ''}, ${p.size} bytes)`;

/**
 * The stretch of the disk to browse: partition `index` as the table numbers it (logical MBR
 * partitions from 5); without one, the file system on the whole disk or the only partition that
 * holds one.
 */
export async function choosePartition(disk: GuestReader, index?: number): Promise<{ source: ByteSource; partition: Partition }> {
  const report = await detectPartitions(disk);
  const real = report.partitions.filter((p) => !p.extended && p.type.code !== 'ee');
  if (index !== undefined) {
    const p = real.find((q) => q.index === index);
    const container = report.partitions.find((q) => q.index === index && (q.extended || q.type.code === 'ee'));
    if (container)
      throw new DiskImgError(
        'usage',
        `Partition ${index} is ${container.extended ? 'an extended partition (a container of logical partitions, numbered from 5)' : 'a protective entry'}: it holds no file system; partitions: ${real.map(describe).join('; ')}`,
        { field: 'partition', value: index },
      );
    if (!p) {
      const list = real.length ? real.map(describe).join('; ') : 'none';
      throw new DiskImgError(
        'not-found',
        `There is no partition ${index}${report.scheme === 'none' ? ' (the disk has no partition table)' : ''}; partitions: ${list}`,
        { field: 'partition', value: index },
      );
    }
    return { source: ByteSource.whole(disk).slice(p.start, p.size), partition: p };
  }
  const withFs = real.filter((p) => p.filesystem !== null);
  if (withFs.length === 1) return { source: ByteSource.whole(disk).slice(withFs[0].start, withFs[0].size), partition: withFs[0] };
  if (withFs.length === 0)
    throw new DiskImgError(
      'not-found',
      `No file system was found on the disk${real.length ? `; partitions: ${real.map(describe).join('; ')}` : report.scheme === 'none' ? '' : ` (its ${report.scheme.toUpperCase()} partition table is empty)`}`,
      { field: 'partition' },
    );
  throw new DiskImgError(
    'usage',
    `The disk has ${withFs.length} file systems: choose a partition (--partition N): ${real.map(describe).join('; ')}`,
    { field: 'partition' },
  );
}
