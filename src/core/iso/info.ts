/** What `diskimg iso info` and the page show about a disc, in qemu-img's kebab-case JSON style. */
import type { Partition } from '../partitions/index.ts';
import type { Disc } from './disc.ts';
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
  'creation-date': string | null;
  'modification-date': string | null;
  'expiration-date': string | null;
  'effective-date': string | null;
  joliet: boolean;
  'joliet-level'?: number;
  /** false, or the extension's identifier (RRIP_1991A, IEEE_P1282, IEEE_1282). */
  'rock-ridge': false | string;
  /** false, or the UDF revision ("2.01"). */
  udf: false | string;
  /** Which file system the listing's names come from. */
  names: 'rock-ridge' | 'joliet' | 'iso9660' | 'udf';
  'el-torito': null | {
    'catalog-offset': number;
    entries: Array<{ platform: string; emulation: string; bootable: boolean; 'load-segment': number; 'sector-count': number; offset: number; 'load-size': number }>;
  };
  partitions: Partition[];
}

export function discInfo(disc: Disc): DiscInfo {
  const p = disc.primary;
  const catalog = disc.bootCatalog;
  return {
    'volume-id': p.volumeId,
    'system-id': p.systemId,
    'volume-set-id': p.volumeSetId,
    'publisher-id': p.publisherId,
    'preparer-id': p.preparerId,
    'application-id': p.applicationId,
    'copyright-file-id': p.copyrightFileId,
    'abstract-file-id': p.abstractFileId,
    'bibliographic-file-id': p.bibliographicFileId,
    'volume-size': p.volumeSpaceSize * p.logicalBlockSize,
    'image-size': disc.storage.size,
    'block-size': p.logicalBlockSize,
    'creation-date': p.creationDate,
    'modification-date': p.modificationDate,
    'expiration-date': p.expirationDate,
    'effective-date': p.effectiveDate,
    joliet: disc.jolietVolume !== undefined,
    ...(disc.jolietVolume ? { 'joliet-level': disc.jolietVolume.joliet } : {}),
    'rock-ridge': disc.primaryTree.kind === 'rock-ridge' ? (disc.primaryTree.extension ?? 'RRIP') : false,
    udf: disc.udf?.revision ?? false,
    names: disc.tree.kind,
    'el-torito': catalog
      ? {
          'catalog-offset': catalog.offset,
          entries: catalog.entries.map((e) => ({ platform: e.platform, emulation: e.emulation, bootable: e.bootable, 'load-segment': e.loadSegment, 'sector-count': e.sectorCount, offset: e.offset, 'load-size': e.loadSize })),
        }
      : null,
    partitions: disc.partitions,
  };
}

/** One entry of `iso ls --output=json`. */
export function entryJson(entry: DiscEntry): { path: string; type: string; size: number; target?: string } {
  return { path: entry.path, type: entry.type, size: entry.size, ...(entry.target !== undefined ? { target: entry.target } : {}) };
}
