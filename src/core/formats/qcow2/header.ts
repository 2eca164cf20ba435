/**
 * The qcow2 header (docs/interop/qcow2.txt, "Header") and the checks QEMU makes when it opens an
 * image (block/qcow2.c, qcow2_do_open), in the same order and with the same messages, so that an
 * image we refuse is one qemu-img refuses too, for the same reason.
 */
import { be64, be64n, view } from '../../bytes.ts';
import { DiskImgError, type ErrorContext } from '../../errors.ts';

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
export const V2_HEADER_LENGTH = 72;
export const V3_MIN_HEADER_LENGTH = 104;
/** The largest header QEMU knows (7.2): the v3 fields plus compression_type and padding. */
export const KNOWN_HEADER_LENGTH = 112;

export const MIN_CLUSTER_BITS = 9;
export const MAX_CLUSTER_BITS = 21;
export const MAX_L1_BYTES = 32 * 1024 * 1024; // QCOW_MAX_L1_SIZE
export const MAX_REFTABLE_BYTES = 8 * 1024 * 1024; // QCOW_MAX_REFTABLE_SIZE
export const MAX_SNAPSHOTS = 65536; // QCOW_MAX_SNAPSHOTS
export const SNAPSHOT_HEADER_BYTES = 40;
export const MAX_BACKING_NAME = 1023;

export const INCOMPAT_DIRTY = 1 << 0;
export const INCOMPAT_CORRUPT = 1 << 1;
export const INCOMPAT_DATA_FILE = 1 << 2;
export const INCOMPAT_COMPRESSION = 1 << 3;
export const INCOMPAT_EXTL2 = 1 << 4;
export const INCOMPAT_KNOWN_MASK = 0x1f;
export const COMPAT_LAZY_REFCOUNTS = 1 << 0;
export const AUTOCLEAR_BITMAPS = 1 << 0;
export const AUTOCLEAR_DATA_FILE_RAW = 1 << 1;

export const CRYPT_NONE = 0;
export const CRYPT_AES = 1;
export const CRYPT_LUKS = 2;

export type CompressionType = 'zlib' | 'zstd';

export interface Qcow2Header {
  version: 2 | 3;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  clusterSize: number;
  /** The header's size field, as stored. */
  sizeField: number;
  /** What QEMU uses: the size field rounded down to whole 512-byte sectors. */
  virtualSize: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatibleFeatures: bigint;
  compatibleFeatures: bigint;
  autoclearFeatures: bigint;
  refcountOrder: number;
  headerLength: number;
  compressionType: CompressionType;
  /** The raw byte at offset 104 (0 when the header is shorter). */
  compressionTypeCode: number;
  extendedL2: boolean;
  /** Bytes per L2 entry: 8, or 16 with extended L2. */
  l2EntryBytes: number;
  l2Entries: number;
  /** Guest bytes one L2 table maps. */
  l2Coverage: number;
  subclusterSize: number;
}

const CLUSTER_ALIGN_MSG = (what: string) => `${what} offset invalid`;

function refuse(message: string, context: ErrorContext, kind: 'invalid-format' | 'unsupported' | 'limit' = 'invalid-format'): never {
  throw new DiskImgError(kind, message, context);
}

/**
 * QEMU's qcow2_validate_table: the table must fit under `maxBytes` and start cluster-aligned,
 * without its end overflowing a signed 64-bit offset.
 */
export function validateTable(
  offset: number,
  entries: number,
  entryLength: number,
  maxBytes: number,
  clusterSize: number,
  name: string,
): void {
  if (entries > maxBytes / entryLength) refuse(`${name} too large`, { field: name, value: entries }, 'limit');
  if (offset % clusterSize !== 0 || offset + entries * entryLength > Number.MAX_SAFE_INTEGER) {
    refuse(CLUSTER_ALIGN_MSG(name), { field: name, offset });
  }
}

/** Parses and validates the fixed header. `bytes` holds at least the first 112 bytes of the file. */
export function parseHeader(bytes: Uint8Array): Qcow2Header {
  const v = view(bytes);
  if (bytes.length < V2_HEADER_LENGTH || v.getUint32(0) !== QCOW2_MAGIC)
    refuse('Image is not in qcow2 format', { field: 'magic', offset: 0 });
  const version = v.getUint32(4);
  if (version !== 2 && version !== 3)
    refuse(`Unsupported qcow2 version ${version}`, { field: 'version', offset: 4, value: version }, 'unsupported');
  const clusterBits = v.getUint32(20);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    refuse(`Unsupported cluster size: 2^${clusterBits}`, { field: 'cluster_bits', offset: 20, value: clusterBits }, 'unsupported');
  }
  const clusterSize = 2 ** clusterBits;

  let incompatibleFeatures = 0n;
  let compatibleFeatures = 0n;
  let autoclearFeatures = 0n;
  let refcountOrder = 4;
  let headerLength = V2_HEADER_LENGTH;
  if (version === 3) {
    incompatibleFeatures = be64n(v, 72);
    compatibleFeatures = be64n(v, 80);
    autoclearFeatures = be64n(v, 88);
    refcountOrder = v.getUint32(96);
    headerLength = v.getUint32(100);
    if (headerLength < V3_MIN_HEADER_LENGTH) refuse('qcow2 header too short', { field: 'header_length', offset: 100, value: headerLength });
  }
  if (headerLength > clusterSize) refuse('qcow2 header exceeds cluster size', { field: 'header_length', offset: 100, value: headerLength });

  const backingFileOffset = be64(v, 8);
  if (backingFileOffset > clusterSize)
    refuse('Invalid backing file offset', { field: 'backing_file_offset', offset: 8, value: backingFileOffset });

  const compressionTypeCode = headerLength > V3_MIN_HEADER_LENGTH ? bytes[104] : 0;
  const extendedL2 = (incompatibleFeatures & BigInt(INCOMPAT_EXTL2)) !== 0n;
  const subclusterSize = extendedL2 ? clusterSize / 32 : clusterSize;
  const l2EntryBytes = extendedL2 ? 16 : 8;
  const l2Entries = clusterSize / l2EntryBytes;

  const sizeField = be64(v, 24);
  return {
    version,
    backingFileOffset,
    backingFileSize: v.getUint32(16),
    clusterBits,
    clusterSize,
    sizeField,
    virtualSize: Math.floor(sizeField / 512) * 512,
    cryptMethod: v.getUint32(32),
    l1Size: v.getUint32(36),
    l1TableOffset: be64(v, 40),
    refcountTableOffset: be64(v, 48),
    refcountTableClusters: v.getUint32(56),
    nbSnapshots: v.getUint32(60),
    snapshotsOffset: be64(v, 64),
    incompatibleFeatures,
    compatibleFeatures,
    autoclearFeatures,
    refcountOrder,
    headerLength,
    compressionType: compressionTypeCode === 1 ? 'zstd' : 'zlib',
    compressionTypeCode,
    extendedL2,
    l2EntryBytes,
    l2Entries,
    l2Coverage: l2Entries * clusterSize,
    subclusterSize,
  };
}

/**
 * The feature checks QEMU makes once it knows the feature names from the header extensions:
 * unknown incompatible bits, compression type, refcount width and subcluster size.
 */
export function validateFeatures(h: Qcow2Header, featureNames: ReadonlyMap<string, string>): void {
  const unknown = h.incompatibleFeatures & ~BigInt(INCOMPAT_KNOWN_MASK);
  if (unknown !== 0n) {
    const named: string[] = [];
    let rest = unknown;
    for (let bit = 0n; bit < 64n; bit++) {
      const mask = 1n << bit;
      const name = featureNames.get(`incompatible:${bit}`);
      if ((unknown & mask) !== 0n && name !== undefined) {
        named.push(name);
        rest &= ~mask;
      }
    }
    if (rest !== 0n) named.push(`Unknown incompatible feature: ${rest.toString(16)}`);
    refuse(
      `Unsupported qcow2 feature(s): ${named.join(', ')}`,
      { field: 'incompatible_features', offset: 72, value: unknown },
      'unsupported',
    );
  }
  if (h.compressionTypeCode > 1) {
    refuse(
      `qcow2: unknown compression type: ${h.compressionTypeCode}`,
      { field: 'compression_type', offset: 104, value: h.compressionTypeCode },
      'unsupported',
    );
  }
  const compressionBit = hasIncompat(h, INCOMPAT_COMPRESSION);
  if (h.compressionTypeCode === 0 && compressionBit) {
    refuse('qcow2: Compression type incompatible feature bit must not be set', { field: 'incompatible_features', offset: 72 });
  }
  if (h.compressionTypeCode !== 0 && !compressionBit) {
    refuse('qcow2: Compression type incompatible feature bit must be set', { field: 'incompatible_features', offset: 72 });
  }
  if (h.extendedL2 && h.subclusterSize < 512) {
    refuse(`Unsupported subcluster size: ${h.subclusterSize}`, { field: 'cluster_bits', offset: 20, value: h.clusterBits }, 'unsupported');
  }
  if (h.refcountOrder > 6) {
    refuse(
      'Reference count entry width too large; may not exceed 64 bits',
      { field: 'refcount_order', offset: 96, value: h.refcountOrder },
      'unsupported',
    );
  }
}

/** The table-size checks QEMU makes after the header fields themselves (qcow2_do_open). */
export function validateTables(h: Qcow2Header): void {
  if (h.refcountTableClusters === 0)
    refuse('Image does not contain a reference count table', { field: 'refcount_table_clusters', offset: 56, value: 0 });
  validateTable(h.refcountTableOffset, h.refcountTableClusters, h.clusterSize, MAX_REFTABLE_BYTES, h.clusterSize, 'Reference count table');
  validateTable(
    h.snapshotsOffset,
    h.nbSnapshots,
    SNAPSHOT_HEADER_BYTES,
    MAX_SNAPSHOTS * SNAPSHOT_HEADER_BYTES,
    h.clusterSize,
    'Snapshot table',
  );
  validateTable(h.l1TableOffset, h.l1Size, 8, MAX_L1_BYTES, h.clusterSize, 'Active L1 table');
  const l1Needed = Math.ceil(h.virtualSize / h.l2Coverage);
  if (l1Needed > 0x7fffffff) refuse('Image is too big', { field: 'size', offset: 24, value: h.sizeField }, 'limit');
  if (h.l1Size < l1Needed) refuse('L1 table is too small', { field: 'l1_size', offset: 36, value: h.l1Size });
}

export function hasIncompat(h: Qcow2Header, bit: number): boolean {
  return (h.incompatibleFeatures & BigInt(bit)) !== 0n;
}
