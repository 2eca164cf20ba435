/**
 * Header extensions (qcow2.txt "Header extensions"): a list of (type, length, data) records after
 * the fixed header, padded to 8 bytes, ending at type 0 or at the backing file name.
 */
import { be64, latin1, utf8, view } from '../../bytes.ts';
import { DiskImgError } from '../../errors.ts';
import { AUTOCLEAR_BITMAPS, CRYPT_LUKS, type Qcow2Header } from './header.ts';

export const EXT_END = 0x00000000;
export const EXT_BACKING_FORMAT = 0xe2792aca;
export const EXT_FEATURE_TABLE = 0x6803f857;
export const EXT_BITMAPS = 0x23852875;
export const EXT_CRYPTO = 0x0537be77;
export const EXT_DATA_FILE = 0x44415441;

export const MAX_BITMAPS = 65535;
export const MAX_BITMAP_DIRECTORY_BYTES = 64 * 1024 * 1024;

export type FeatureKind = 'incompatible' | 'compatible' | 'autoclear';
export interface FeatureName {
  kind: FeatureKind;
  bit: number;
  name: string;
}

export interface BitmapsExtension {
  count: number;
  directorySize: number;
  directoryOffset: number;
}

export interface HeaderExtension {
  type: number;
  /** Where the record starts in the file. */
  offset: number;
  length: number;
  /** A short name for the types we know; 'unknown' otherwise. */
  name: 'backing-format' | 'feature-table' | 'bitmaps' | 'crypto' | 'data-file' | 'unknown';
}

export interface Extensions {
  list: HeaderExtension[];
  backingFormat?: string;
  features: FeatureName[];
  /** `${kind}:${bit}` → name, for messages about unknown feature bits. */
  featureNames: Map<string, string>;
  bitmaps?: BitmapsExtension;
  /** True when the bitmaps extension is there but its autoclear bit is not, so QEMU ignores it. */
  bitmapsIgnored: boolean;
  crypto?: { offset: number; length: number };
  dataFile?: string;
}

const FEATURE_KINDS: FeatureKind[] = ['incompatible', 'compatible', 'autoclear'];

const invalid = (message: string, offset: number, field = 'header extension'): never => {
  throw new DiskImgError('invalid-format', message, { field, offset });
};

/** Parses the extensions held in `cluster0` (the first cluster of the file). */
export function parseExtensions(h: Qcow2Header, cluster0: Uint8Array): Extensions {
  const out: Extensions = { list: [], features: [], featureNames: new Map(), bitmapsIgnored: false };
  const v = view(cluster0);
  const end = h.backingFileOffset !== 0 ? h.backingFileOffset : h.clusterSize;
  let offset = h.headerLength;
  while (offset < end) {
    if (offset + 8 > end) invalid('Header extension too large', offset);
    const type = v.getUint32(offset);
    const length = v.getUint32(offset + 4);
    const recordStart = offset;
    offset += 8;
    if (type === EXT_END) break;
    if (offset > end - length) invalid('Header extension too large', recordStart);
    const data = cluster0.subarray(offset, offset + length);
    const record: HeaderExtension = { type, offset: recordStart, length, name: 'unknown' };
    switch (type) {
      case EXT_BACKING_FORMAT:
        if (length >= 16) invalid(`ERROR: ext_backing_format: len=${length} too large (>=16)`, recordStart, 'backing format');
        out.backingFormat = latin1(data);
        record.name = 'backing-format';
        break;
      case EXT_FEATURE_TABLE:
        for (let at = 0; at + 48 <= length; at += 48) {
          const kind = FEATURE_KINDS[data[at]];
          if (kind === undefined) continue;
          const raw = data.subarray(at + 2, at + 48);
          const nul = raw.indexOf(0);
          const feature = { kind, bit: data[at + 1], name: latin1(nul >= 0 ? raw.subarray(0, nul) : raw) };
          out.features.push(feature);
          out.featureNames.set(`${kind}:${feature.bit}`, feature.name);
        }
        record.name = 'feature-table';
        break;
      case EXT_BITMAPS:
        record.name = 'bitmaps';
        out.bitmaps = parseBitmapsExtension(h, data, recordStart);
        out.bitmapsIgnored = (h.autoclearFeatures & BigInt(AUTOCLEAR_BITMAPS)) === 0n;
        if (out.bitmapsIgnored) out.bitmaps = undefined;
        break;
      case EXT_CRYPTO:
        if (h.cryptMethod !== CRYPT_LUKS)
          invalid('CRYPTO header extension only expected with LUKS encryption method', recordStart, 'crypto header');
        if (length !== 16) invalid(`CRYPTO header extension size ${length}, but expected size 16`, recordStart, 'crypto header');
        out.crypto = { offset: be64(view(data), 0), length: be64(view(data), 8) };
        record.name = 'crypto';
        break;
      case EXT_DATA_FILE:
        out.dataFile = utf8(data);
        record.name = 'data-file';
        break;
    }
    out.list.push(record);
    offset += (length + 7) & ~7;
  }
  return out;
}

function parseBitmapsExtension(h: Qcow2Header, data: Uint8Array, at: number): BitmapsExtension {
  if (data.length !== 24) invalid('bitmaps_ext: Invalid extension length', at, 'bitmaps');
  const v = view(data);
  const ext = { count: v.getUint32(0), directorySize: be64(v, 8), directoryOffset: be64(v, 16) };
  if (v.getUint32(4) !== 0) invalid('bitmaps_ext: Reserved field is not zero', at, 'bitmaps');
  if (ext.count > MAX_BITMAPS)
    invalid(`bitmaps_ext: Image has ${ext.count} bitmaps, exceeding the QEMU supported maximum of ${MAX_BITMAPS}`, at, 'bitmaps');
  if (ext.count === 0) invalid('found bitmaps extension with zero bitmaps', at, 'bitmaps');
  if (ext.directoryOffset % h.clusterSize !== 0) invalid('bitmaps_ext: invalid bitmap directory offset', at, 'bitmaps');
  if (ext.directorySize > MAX_BITMAP_DIRECTORY_BYTES) {
    invalid(
      `bitmaps_ext: bitmap directory size (${ext.directorySize}) exceeds the maximum supported size (${MAX_BITMAP_DIRECTORY_BYTES})`,
      at,
      'bitmaps',
    );
  }
  return ext;
}

export interface BitmapEntry {
  name: string;
  granularity: number;
  flags: { inUse: boolean; auto: boolean };
  type: number;
  tableOffset: number;
  tableSize: number;
}

/** Parses the bitmap directory (bounded by the 64 MiB limit checked above). */
export function parseBitmapDirectory(bytes: Uint8Array, count: number): BitmapEntry[] {
  const v = view(bytes);
  const entries: BitmapEntry[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 24 > bytes.length) invalid('Bitmap directory is truncated', at, 'bitmap directory');
    const nameSize = v.getUint16(at + 18);
    const extraSize = v.getUint32(at + 20);
    const nameStart = at + 24 + extraSize;
    if (nameStart + nameSize > bytes.length) invalid('Bitmap directory is truncated', at, 'bitmap directory');
    const flags = v.getUint32(at + 12);
    entries.push({
      tableOffset: be64(v, at),
      tableSize: v.getUint32(at + 8),
      flags: { inUse: (flags & 1) !== 0, auto: (flags & 2) !== 0 },
      type: bytes[at + 16],
      granularity: 2 ** bytes[at + 17],
      name: utf8(bytes.subarray(nameStart, nameStart + nameSize)),
    });
    at = (nameStart + nameSize + 7) & ~7;
  }
  return entries;
}
