/** What `diskimg iso info` and the page show about a disc, in qemu-img's kebab-case JSON style. */
import { DiskImgError } from '../errors.ts';
import type { Disc, TreeKind } from './disc.ts';
import type { PathTableReport } from './path-table.ts';
import type { SystemAreaPartition } from './system-area.ts';
import type { DiscEntry } from './types.ts';

export interface DiscInfo {
  'volume-id': string;
  'system-id': string;
  'volume-set-id': string;
  'publisher-id': string;
  'preparer-id': string;
  'application-id': string;
  'copyright-file-id': string;
  'abstract-file-id': string;
  'bibliographic-file-id': string;
  /** Bytes the primary volume says it spans. */
  'volume-size': number;
  'image-size': number;
  'block-size': number;
  'volume-set-size'?: number;
  'volume-sequence-number'?: number;
  'creation-date': string | null;
  'modification-date': string | null;
  'expiration-date': string | null;
  'effective-date': string | null;
  joliet: boolean;
  'joliet-level'?: number;
  /** An ISO 9660:1999 enhanced volume descriptor is present (genisoimage -iso-level 4). */
  'iso9660-1999': boolean;
  /** false, or the extension's identifier (RRIP_1991A, IEEE_P1282, IEEE_1282). */
  'rock-ridge': false | string;
  /** false, or the UDF revision ("2.01"). */
  udf: false | string;
  /** Which file system the listing's names come from. */
  names: TreeKind;
  /** Every tree the disc offers (`iso ls --names=…`), in the order names are preferred. */
  'available-names': TreeKind[];
  /** The UDF volume's own identification, when the disc has one. */
  'udf-volume': null | {
    'logical-volume-id': string;
    'volume-id': string;
    'volume-set-id': string;
    'file-set-id': string;
    'application-id': string;
    'implementation-id': string;
    'recording-date': string | null;
    'block-size': number;
    /** The oldest UDF revision that can read the volume, and the newest that wrote it (udfinfo's udfrev, udfwriterev). */
    'min-read-revision'?: string;
    'max-write-revision'?: string;
    partitions: Array<{ number: number; kind: string; start: number; length: number }>;
  };
  /** Why an announced UDF volume could not be read (names then come from ISO 9660). */
  'udf-error'?: string;
  /** The ISO 9660 path tables, checked against each other and the root. */
  'path-tables'?: PathTableReport;
  'el-torito': null | {
    'catalog-offset': number;
    /** The validation entry's ID string (the manufacturer's, often empty). */
    'validation-id': string;
    entries: Array<{
      platform: string;
      emulation: string;
      bootable: boolean;
      'load-segment': number;
      'system-type': number;
      'sector-count': number;
      'load-rba': number;
      offset: number;
      'load-size': number;
      'size-from': string;
      path?: string;
    }>;
    /** Damage in the catalog, each naming its entry (only when there is some). */
    warnings?: string[];
  };
  /** Files stored zisofs-compressed (only `iso info`, which walks the tree for them; only when there are some). */
  zisofs?: ZisofsSummary;
  /** The image is shorter than its volume: how much is missing and the first files that lose data (only when truncated). */
  truncated?: {
    'volume-size': number;
    'image-size': number;
    'missing-bytes': number;
    files: string[];
    'file-count': number;
    complete: boolean;
    stopped?: string;
  };
  /** MBR and GPT partitions from the system area, each with its scheme; appended ones marked. */
  partitions: SystemAreaPartition[];
  'system-area': { mbr: boolean; gpt: boolean; 'disk-id'?: string; 'disk-guid'?: string; warnings?: string[] };
}

type TextField = 'volumeId' | 'systemId' | 'volumeSetId' | 'publisherId' | 'preparerId' | 'applicationId';

/**
 * A text field of the volume as a user knows it. The label is the Joliet descriptor's (UCS-2:
 * no guessing of a charset) where it has one; the other fields are the primary's while it is
 * plain ASCII (Joliet's hold half as many characters, and turn "/" into "_"), else Joliet's. The
 * primary's own bytes are read as UTF-8 when they are UTF-8 (descriptors.ts). Either way, the
 * primary's wins when it says more and Joliet's is its start.
 */
function volumeText(disc: Disc, field: TextField): string {
  const primary = disc.primary?.[field] ?? '';
  const joliet = disc.jolietVolume?.[field] ?? '';
  if (!joliet || (primary.length > joliet.length && primary.startsWith(joliet))) return primary;
  return field === 'volumeId' || !/^[\x20-\x7e]*$/.test(primary) ? joliet : primary;
}

export function discInfo(disc: Disc): DiscInfo {
  const p = disc.primary;
  const udf = disc.udfTree;
  const u = udf?.volume;
  const catalog = disc.bootCatalog;
  const udfEnd = u ? Math.max(...u.partitions.map((x) => (x.start + x.length) * u.blockSize)) : 0;
  return {
    'volume-id': p ? volumeText(disc, 'volumeId') : u!.logicalVolumeId || u!.volumeId,
    'system-id': volumeText(disc, 'systemId'),
    'volume-set-id': p ? volumeText(disc, 'volumeSetId') : u!.volumeSetId,
    'publisher-id': volumeText(disc, 'publisherId'),
    'preparer-id': volumeText(disc, 'preparerId'),
    'application-id': p ? volumeText(disc, 'applicationId') : u!.applicationId,
    'copyright-file-id': p?.copyrightFileId ?? '',
    'abstract-file-id': p?.abstractFileId ?? '',
    'bibliographic-file-id': p?.bibliographicFileId ?? '',
    'volume-size': p ? p.volumeSpaceSize * p.logicalBlockSize : Math.min(udfEnd, disc.storage.size),
    'image-size': disc.storage.size,
    'block-size': p ? p.logicalBlockSize : u!.blockSize,
    ...(p ? { 'volume-set-size': p.volumeSetSize, 'volume-sequence-number': p.volumeSequenceNumber } : {}),
    'creation-date': p ? p.creationDate : u!.recorded,
    'modification-date': p?.modificationDate ?? null,
    'expiration-date': p?.expirationDate ?? null,
    'effective-date': p?.effectiveDate ?? null,
    joliet: disc.jolietVolume !== undefined,
    ...(disc.jolietVolume ? { 'joliet-level': disc.jolietVolume.joliet } : {}),
    'iso9660-1999': disc.descriptors?.supplementary.some((v) => v.enhanced) ?? false,
    'rock-ridge': disc.primaryTree?.kind === 'rock-ridge' ? (disc.primaryTree.extension ?? 'RRIP') : false,
    udf: u?.revision ?? false,
    names: disc.tree.kind,
    'available-names': disc.available,
    'udf-volume': u
      ? {
          'logical-volume-id': u.logicalVolumeId,
          'volume-id': u.volumeId,
          'volume-set-id': u.volumeSetId,
          'file-set-id': udf!.fileSetId,
          'application-id': u.applicationId,
          'implementation-id': u.implementationId,
          'recording-date': u.recorded,
          'block-size': u.blockSize,
          ...(u.minReadRevision ? { 'min-read-revision': u.minReadRevision, 'max-write-revision': u.maxWriteRevision } : {}),
          partitions: u.partitions.map((x) => ({
            number: x.number,
            kind: x.kind,
            start: x.start * u.blockSize,
            length: x.length * u.blockSize,
          })),
        }
      : null,
    ...(disc.udfError ? { 'udf-error': disc.udfError.message } : {}),
    ...(disc.iso9660 ? { 'path-tables': disc.iso9660.pathTables } : {}),
    'el-torito': catalog
      ? {
          'catalog-offset': catalog.offset,
          'validation-id': catalog.validationId,
          entries: catalog.entries.map((e) => ({
            platform: e.platform,
            emulation: e.emulation,
            bootable: e.bootable,
            'load-segment': e.loadSegment,
            'system-type': e.systemType,
            'sector-count': e.sectorCount,
            'load-rba': e.offset / 2048,
            offset: e.offset,
            'load-size': e.loadSize,
            'size-from': e.sizeFrom,
            ...(e.path !== undefined ? { path: e.path } : {}),
          })),
          ...(catalog.warnings.length > 0 ? { warnings: catalog.warnings } : {}),
        }
      : null,
    ...(disc.truncation
      ? {
          truncated: {
            'volume-size': disc.truncation.volumeSize,
            'image-size': disc.truncation.imageSize,
            'missing-bytes': disc.truncation.missing,
            files: disc.truncation.files,
            'file-count': disc.truncation.fileCount,
            complete: disc.truncation.complete,
            ...(disc.truncation.stopped ? { stopped: disc.truncation.stopped } : {}),
          },
        }
      : {}),
    partitions: disc.partitions,
    'system-area': (({ partitions: _, ...rest }) => rest)(disc.systemArea),
  };
}

/** zisofs files found, for `iso info`: how many, what they hold on the disc and decompressed, the first few paths. */
export interface ZisofsSummary {
  files: number;
  'stored-bytes': number;
  'decompressed-bytes': number;
  /** The first paths (at most 20). */
  examples: string[];
  /** False when the walk stopped early (more than `limit` entries, or damage): the counts are lower bounds. */
  complete: boolean;
}

/** Walks a Rock Ridge tree (zisofs needs Rock Ridge) up to `limit` entries; null when no file is zisofs. */
export async function zisofsSummary(disc: Disc, limit = 200_000): Promise<ZisofsSummary | null> {
  if (disc.tree.kind !== 'rock-ridge') return null;
  const summary: ZisofsSummary = { files: 0, 'stored-bytes': 0, 'decompressed-bytes': 0, examples: [], complete: true };
  let seen = 0;
  try {
    for await (const entry of disc.walk()) {
      if (++seen > limit) {
        summary.complete = false;
        break;
      }
      if (!entry.zisofs) continue;
      summary.files++;
      summary['stored-bytes'] += entry.zisofs.stored;
      summary['decompressed-bytes'] += entry.size;
      if (summary.examples.length < 20) summary.examples.push(entry.path);
    }
  } catch (error) {
    if (!(error instanceof DiskImgError)) throw error;
    summary.complete = false;
  }
  return summary.files > 0 ? summary : null;
}

/** One entry of `iso ls --output=json`: a zisofs file's size is its decompressed size, `stored-size` what the disc holds. */
export function entryJson(entry: DiscEntry): {
  path: string;
  type: string;
  size: number;
  target?: string;
  major?: number;
  minor?: number;
  compression?: string;
  'stored-size'?: number;
} {
  return {
    path: entry.path,
    type: entry.type,
    size: entry.size,
    ...(entry.target !== undefined ? { target: entry.target } : {}),
    ...(entry.device ? { major: entry.device.major, minor: entry.device.minor } : {}),
    ...(entry.zisofs ? { compression: entry.zisofs.version === 2 ? 'zisofs2' : 'zisofs', 'stored-size': entry.zisofs.stored } : {}),
  };
}
