/** What `diskimg iso info` and the page show about a disc, in qemu-img's kebab-case JSON style. */
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
    entries: Array<{ platform: string; emulation: string; bootable: boolean; 'load-segment': number; 'system-type': number; 'sector-count': number; 'load-rba': number; offset: number; 'load-size': number; 'size-from': string; path?: string }>;
  };
  /** MBR and GPT partitions from the system area, each with its scheme; appended ones marked. */
  partitions: SystemAreaPartition[];
  'system-area': { mbr: boolean; gpt: boolean; 'disk-id'?: string; 'disk-guid'?: string; warnings?: string[] };
}

export function discInfo(disc: Disc): DiscInfo {
  const p = disc.primary;
  const udf = disc.udfTree;
  const u = udf?.volume;
  const catalog = disc.bootCatalog;
  const udfEnd = u ? Math.max(...u.partitions.map((x) => (x.start + x.length) * u.blockSize)) : 0;
  return {
    'volume-id': p ? p.volumeId : (u!.logicalVolumeId || u!.volumeId),
    'system-id': p?.systemId ?? '',
    'volume-set-id': p ? p.volumeSetId : u!.volumeSetId,
    'publisher-id': p?.publisherId ?? '',
    'preparer-id': p?.preparerId ?? '',
    'application-id': p ? p.applicationId : u!.applicationId,
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
          partitions: u.partitions.map((x) => ({ number: x.number, kind: x.kind, start: x.start * u.blockSize, length: x.length * u.blockSize })),
        }
      : null,
    ...(disc.udfError ? { 'udf-error': disc.udfError.message } : {}),
    ...(disc.iso9660 ? { 'path-tables': disc.iso9660.pathTables } : {}),
    'el-torito': catalog
      ? {
          'catalog-offset': catalog.offset,
          'validation-id': catalog.validationId,
          entries: catalog.entries.map((e) => ({ platform: e.platform, emulation: e.emulation, bootable: e.bootable, 'load-segment': e.loadSegment, 'system-type': e.systemType, 'sector-count': e.sectorCount, 'load-rba': e.offset / 2048, offset: e.offset, 'load-size': e.loadSize, 'size-from': e.sizeFrom, ...(e.path !== undefined ? { path: e.path } : {}) })),
        }
      : null,
    partitions: disc.partitions,
    'system-area': (({ partitions: _, ...rest }) => rest)(disc.systemArea),
  };
}

/** One entry of `iso ls --output=json`. */
export function entryJson(entry: DiscEntry): { path: string; type: string; size: number; target?: string } {
  return { path: entry.path, type: entry.type, size: entry.size, ...(entry.target !== undefined ? { target: entry.target } : {}) };
}
