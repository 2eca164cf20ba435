/**
 * The QED header (docs/interop/qed_spec.txt) and the checks qemu's bdrv_qed_do_open makes on it,
 * in qemu's order and with qemu's messages. All fields are little-endian.
 */
import { utf8 } from '../../bytes.ts';
import { DiskImgError } from '../../errors.ts';

export const QED_MAGIC = 0x00444551; // "QED\0"
export const F_BACKING_FILE = 0x01;
export const F_NEED_CHECK = 0x02;
export const F_BACKING_FORMAT_NO_PROBE = 0x04;
const FEATURE_MASK = 0x07n;
/** An L2 entry of 1: the cluster reads as zeros (QED_ZERO_CLUSTER). */
export const ZERO_CLUSTER = 1;
export const HEADER_BYTES = 64;
/** qemu's buffer for the backing file name (PATH_MAX): a longer name is refused. */
const MAX_BACKING_NAME = 4096;

export interface QedHeader {
  clusterSize: number;
  /** L1 and L2 tables' size in clusters. */
  tableSize: number;
  /** Header size in clusters. */
  headerSize: number;
  features: number;
  compatFeatures: bigint;
  autoclearFeatures: bigint;
  l1TableOffset: number;
  imageSize: number;
  backingFilenameOffset: number;
  backingFilenameSize: number;
  /** Entries per table, and the guest bytes one L2 table covers. */
  tableEntries: number;
  l2Coverage: number;
  /** The file's size rounded down to whole clusters (qemu's s->file_size). */
  fileSize: number;
}

const invalid = (message: string, field: string, offset: number, value?: number | string): never => {
  throw new DiskImgError('invalid-format', message, { field, offset, value });
};

const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;

/** qed_max_image_size, in qemu's 64-bit arithmetic (it wraps for the largest tables). */
function maxImageSize(clusterSize: number, tableSize: number): bigint {
  const entries = BigInt((clusterSize * tableSize) >>> 0) / 8n;
  return BigInt.asUintN(64, entries * BigInt(clusterSize) * entries);
}

/** qed_check_cluster_offset: cluster-aligned, past the header, before the end of the file. */
export function validClusterOffset(h: Pick<QedHeader, 'clusterSize' | 'headerSize' | 'fileSize'>, offset: number): boolean {
  if (offset % h.clusterSize !== 0) return false;
  return offset >= h.headerSize * h.clusterSize && offset < h.fileSize;
}

/** qed_check_table_offset: the table's first and last clusters are valid (so a 1-cluster table never is, as in qemu). */
export function validTableOffset(h: Pick<QedHeader, 'clusterSize' | 'headerSize' | 'fileSize' | 'tableSize'>, offset: number): boolean {
  const end = offset + (h.tableSize - 1) * h.clusterSize;
  if (end <= offset) return false;
  return validClusterOffset(h, offset) && validClusterOffset(h, end);
}

export function parseHeader(head: Uint8Array, storageSize: number): QedHeader {
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const u32 = (at: number) => v.getUint32(at, true);
  const u64 = (at: number) => v.getBigUint64(at, true);
  if (u32(0) !== QED_MAGIC) invalid('Image not in QED format', 'magic', 0, u32(0));
  const features = u64(16);
  if (features & ~FEATURE_MASK) {
    throw new DiskImgError('unsupported', `Unsupported QED features: ${(features & ~FEATURE_MASK).toString(16)}`, {
      field: 'features',
      offset: 16,
      value: `0x${features.toString(16)}`,
    });
  }
  const clusterSize = u32(4);
  if (!isPowerOfTwo(clusterSize) || clusterSize < 4096 || clusterSize > 64 * 1024 * 1024)
    invalid('QED cluster size is invalid', 'cluster_size', 4, clusterSize);
  const fileSize = Math.floor(storageSize / clusterSize) * clusterSize;
  const tableSize = u32(8);
  if (!isPowerOfTwo(tableSize) || tableSize > 16) invalid('QED table size is invalid', 'table_size', 8, tableSize);
  const imageSize = u64(48);
  if (imageSize % 512n !== 0n || imageSize > maxImageSize(clusterSize, tableSize))
    invalid('QED image size is invalid', 'image_size', 48, `0x${imageSize.toString(16)}`);
  const l1 = u64(40);
  const headerSize = u32(12);
  const geometry = { clusterSize, headerSize, fileSize, tableSize };
  if (l1 > BigInt(Number.MAX_SAFE_INTEGER) || !validTableOffset(geometry, Number(l1)))
    invalid('QED table offset is invalid', 'l1_table_offset', 40, `0x${l1.toString(16)}`);
  if (headerSize > Math.floor(0xffffffff / clusterSize)) invalid('QED header size is too large', 'header_size', 12, headerSize);
  const tableEntries = (clusterSize * tableSize) / 8;
  const h: QedHeader = {
    clusterSize,
    tableSize,
    headerSize,
    features: Number(features),
    compatFeatures: u64(24),
    autoclearFeatures: u64(32),
    l1TableOffset: Number(l1),
    imageSize: Number(imageSize),
    backingFilenameOffset: u32(56),
    backingFilenameSize: u32(60),
    tableEntries,
    l2Coverage: tableEntries * clusterSize,
    fileSize,
  };
  if (h.features & F_BACKING_FILE && h.backingFilenameOffset + h.backingFilenameSize > clusterSize * headerSize) {
    invalid('QED backing filename offset is invalid', 'backing_filename_offset', 56, h.backingFilenameOffset);
  }
  return h;
}

/** The backing file name, when the header names one (qed_read_string: at most PATH_MAX - 1 bytes, up to a NUL). */
export function backingName(h: QedHeader, bytes: Uint8Array): string | undefined {
  if (!(h.features & F_BACKING_FILE)) return undefined;
  const end = bytes.indexOf(0);
  const name = utf8(end < 0 ? bytes : bytes.subarray(0, end));
  return name === '' ? undefined : name;
}

export function checkBackingNameSize(h: QedHeader): void {
  if (h.features & F_BACKING_FILE && h.backingFilenameSize >= MAX_BACKING_NAME) {
    throw new DiskImgError('limit', 'Failed to read backing filename', {
      field: 'backing_filename_size',
      offset: 60,
      value: h.backingFilenameSize,
    });
  }
}
