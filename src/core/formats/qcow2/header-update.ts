/**
 * The first cluster rewritten as QEMU's qcow2_update_header writes it for an open image: the
 * fixed header (72 bytes for v2; 112 for v3, then any header fields QEMU does not know, kept),
 * then the extensions in QEMU's order — backing format, data file, crypto, feature table (v3
 * only), bitmaps, the unknown ones as found — the end marker, and the backing file name. Verbs
 * that change an image in place (bitmap, amend) switch to their new state with this one write.
 */
import { DiskImgError } from '../../errors.ts';
import { KNOWN_HEADER_LENGTH, V2_HEADER_LENGTH, type Qcow2Header } from './header.ts';
import { EXT_BITMAPS, EXT_FEATURE_TABLE, type BitmapsExtension, type Extensions } from './extensions.ts';
import { FEATURE_TABLE } from './write/header-writer.ts';

export interface HeaderChanges {
  version?: 2 | 3;
  incompatible?: bigint;
  compatible?: bigint;
  autoclear?: bigint;
  refcountOrder?: number;
  /** A new refcount table (amend -o refcount_bits). */
  refcountTable?: { offset: number; clusters: number };
  /** The bitmaps extension to write; null: none. Absent: as it is. */
  bitmaps?: BitmapsExtension | null;
}

const ORDER = ['backing-format', 'data-file', 'crypto'] as const;

export function rebuildHeader(cluster0: Uint8Array, h: Qcow2Header, ext: Extensions, changes: HeaderChanges): Uint8Array {
  const cs = h.clusterSize;
  const version = changes.version ?? h.version;
  const out = new Uint8Array(cs);
  const v = new DataView(out.buffer);
  out.set(cluster0.subarray(0, V2_HEADER_LENGTH));
  v.setUint32(4, version);
  if (changes.refcountTable) {
    v.setBigUint64(48, BigInt(changes.refcountTable.offset));
    v.setUint32(56, changes.refcountTable.clusters);
  }
  v.setBigUint64(8, 0n);
  v.setUint32(16, 0);
  let at = V2_HEADER_LENGTH;
  if (version === 3) {
    v.setBigUint64(72, changes.incompatible ?? h.incompatibleFeatures);
    v.setBigUint64(80, changes.compatible ?? h.compatibleFeatures);
    v.setBigUint64(88, changes.autoclear ?? h.autoclearFeatures);
    v.setUint32(96, changes.refcountOrder ?? (h.version === 3 ? h.refcountOrder : 4));
    // Header fields past the ones QEMU knows are kept (only a v3 header has them).
    const unknown =
      h.version === 3 && h.headerLength > KNOWN_HEADER_LENGTH ? cluster0.subarray(KNOWN_HEADER_LENGTH, h.headerLength) : new Uint8Array(0);
    const length = KNOWN_HEADER_LENGTH + ((unknown.length + 7) & ~7);
    v.setUint32(100, length);
    out[104] = h.version === 3 ? h.compressionTypeCode : 0;
    out.set(unknown, KNOWN_HEADER_LENGTH);
    at = length;
  }
  const add = (type: number, data: Uint8Array) => {
    const padded = (data.length + 7) & ~7;
    if (at + 8 + padded + 8 > cs)
      throw new DiskImgError('limit', 'Header extensions do not fit in the first cluster', { field: 'header', value: cs });
    v.setUint32(at, type);
    v.setUint32(at + 4, data.length);
    out.set(data, at + 8);
    at += 8 + padded;
  };
  const dataOf = (record: Extensions['list'][number]) => cluster0.subarray(record.offset + 8, record.offset + 8 + record.length);
  for (const name of ORDER) {
    const record = ext.list.find((r) => r.name === name);
    if (record) add(record.type, dataOf(record));
  }
  if (version === 3 && cs > 4096) {
    const table = new Uint8Array(FEATURE_TABLE.length * 48);
    const encoder = new TextEncoder();
    FEATURE_TABLE.forEach(([type, bit, name], i) => {
      table[i * 48] = type;
      table[i * 48 + 1] = bit;
      table.set(encoder.encode(name), i * 48 + 2);
    });
    add(EXT_FEATURE_TABLE, table);
  }
  const bitmaps = changes.bitmaps === undefined ? ext.bitmaps : changes.bitmaps;
  if (bitmaps && version === 3) {
    const data = new Uint8Array(24);
    const d = new DataView(data.buffer);
    d.setUint32(0, bitmaps.count);
    d.setBigUint64(8, BigInt(bitmaps.directorySize));
    d.setBigUint64(16, BigInt(bitmaps.directoryOffset));
    add(EXT_BITMAPS, data);
  }
  for (const record of ext.list) if (record.name === 'unknown') add(record.type, dataOf(record));
  at += 8; // the end marker
  if (h.backingFileOffset !== 0) {
    const name = cluster0.subarray(h.backingFileOffset, h.backingFileOffset + h.backingFileSize);
    if (at + name.length > cs) throw new DiskImgError('limit', 'Backing file name too long', { field: 'backing_file' });
    v.setBigUint64(8, BigInt(at));
    v.setUint32(16, name.length);
    out.set(name, at);
  }
  return out;
}
