/**
 * Cluster 0 as QEMU's qcow2_update_header writes it: the fixed header (72 bytes for v2, 112 for
 * v3), then the extensions in QEMU's order (backing format, data file, crypto, feature table), the end
 * marker, and the backing file name right after it; the rest of the cluster is zero.
 */
import { DiskImgError } from '../../../errors.ts';
import {
  AUTOCLEAR_DATA_FILE_RAW,
  COMPAT_LAZY_REFCOUNTS,
  CRYPT_LUKS,
  INCOMPAT_COMPRESSION,
  INCOMPAT_DATA_FILE,
  INCOMPAT_EXTL2,
  KNOWN_HEADER_LENGTH,
  QCOW2_MAGIC,
  V2_HEADER_LENGTH,
  type CompressionType,
} from '../header.ts';
import { EXT_BACKING_FORMAT, EXT_CRYPTO, EXT_DATA_FILE, EXT_FEATURE_TABLE } from '../extensions.ts';

export interface HeaderFields {
  version: 2 | 3;
  clusterBits: number;
  virtualSize: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  refcountOrder: number;
  compressionType: CompressionType;
  lazyRefcounts: boolean;
  extendedL2: boolean;
  backingFile?: string;
  backingFormat?: string;
  dataFile?: string;
  dataFileRaw?: boolean;
  /** LUKS: crypt_method 2 and the crypto header extension naming the header region. */
  cryptoHeader?: { offset: number; length: number };
}

/** The feature names QEMU 7.2 writes, in its order: (type, bit, name). */
export const FEATURE_TABLE: ReadonlyArray<[number, number, string]> = [
  [0, 0, 'dirty bit'],
  [0, 1, 'corrupt bit'],
  [0, 2, 'external data file'],
  [0, 3, 'compression type'],
  [0, 4, 'extended L2 entries'],
  [1, 0, 'lazy refcounts'],
  [2, 0, 'bitmaps'],
  [2, 1, 'raw external data'],
];

const encoder = new TextEncoder();

export function buildHeaderCluster(f: HeaderFields): Uint8Array {
  const clusterSize = 2 ** f.clusterBits;
  const out = new Uint8Array(clusterSize);
  const v = new DataView(out.buffer);
  const setU64 = (at: number, value: number) => {
    v.setUint32(at, Math.floor(value / 0x1_0000_0000));
    v.setUint32(at + 4, value >>> 0);
  };
  v.setUint32(0, QCOW2_MAGIC);
  v.setUint32(4, f.version);
  v.setUint32(20, f.clusterBits);
  setU64(24, f.virtualSize);
  if (f.cryptoHeader) v.setUint32(32, CRYPT_LUKS);
  v.setUint32(36, f.l1Size);
  setU64(40, f.l1TableOffset);
  setU64(48, f.refcountTableOffset);
  v.setUint32(56, f.refcountTableClusters);
  let at = V2_HEADER_LENGTH;
  if (f.version === 3) {
    let incompat = 0;
    if (f.compressionType === 'zstd') incompat |= INCOMPAT_COMPRESSION;
    if (f.extendedL2) incompat |= INCOMPAT_EXTL2;
    if (f.dataFile !== undefined) incompat |= INCOMPAT_DATA_FILE;
    setU64(72, incompat);
    setU64(80, f.lazyRefcounts ? COMPAT_LAZY_REFCOUNTS : 0);
    setU64(88, f.dataFileRaw ? AUTOCLEAR_DATA_FILE_RAW : 0);
    v.setUint32(96, f.refcountOrder);
    v.setUint32(100, KNOWN_HEADER_LENGTH);
    out[104] = f.compressionType === 'zstd' ? 1 : 0;
    at = KNOWN_HEADER_LENGTH;
  }
  const addExtension = (type: number, data: Uint8Array) => {
    const padded = (data.length + 7) & ~7;
    if (at + 8 + padded > clusterSize)
      throw new DiskImgError('limit', 'Header extensions do not fit in the first cluster; use a larger cluster size', {
        field: 'cluster_size',
        value: clusterSize,
      });
    v.setUint32(at, type);
    v.setUint32(at + 4, data.length);
    out.set(data, at + 8);
    at += 8 + padded;
  };
  if (f.backingFormat !== undefined) addExtension(EXT_BACKING_FORMAT, encoder.encode(f.backingFormat));
  if (f.dataFile !== undefined) addExtension(EXT_DATA_FILE, encoder.encode(f.dataFile));
  if (f.cryptoHeader) {
    const ext = new Uint8Array(16);
    const e = new DataView(ext.buffer);
    e.setBigUint64(0, BigInt(f.cryptoHeader.offset));
    e.setBigUint64(8, BigInt(f.cryptoHeader.length));
    addExtension(EXT_CRYPTO, ext);
  }
  if (f.version === 3 && clusterSize > 4096) {
    const table = new Uint8Array(FEATURE_TABLE.length * 48);
    FEATURE_TABLE.forEach(([type, bit, name], i) => {
      table[i * 48] = type;
      table[i * 48 + 1] = bit;
      table.set(encoder.encode(name), i * 48 + 2);
    });
    addExtension(EXT_FEATURE_TABLE, table);
  }
  at += 8; // end marker: type 0, length 0
  if (f.backingFile !== undefined) {
    const name = encoder.encode(f.backingFile);
    if (name.length > 1023 || at + name.length > clusterSize)
      throw new DiskImgError('limit', 'Backing file name too long', { field: 'backing_file', value: f.backingFile });
    setU64(8, at);
    v.setUint32(16, name.length);
    out.set(name, at);
  }
  return out;
}
