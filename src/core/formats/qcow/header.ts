/**
 * The qcow (version 1) header and the checks qemu's block/qcow.c makes on it, in qemu's order and
 * with qemu's messages. All fields are big-endian.
 */
import { utf8 } from '../../bytes.ts';
import { DiskImgError } from '../../errors.ts';

export const QCOW_MAGIC = 0x514649fb;
export const HEADER_BYTES = 48;
export const CRYPT_NONE = 0;
export const CRYPT_AES = 1;
const INT_MAX = 0x7fffffff;

export interface QcowHeader {
  version: number;
  backingFileOffset: number;
  backingFileSize: number;
  mtime: number;
  /** The size field; the guest sees it rounded down to whole sectors. */
  size: number;
  clusterBits: number;
  l2Bits: number;
  cryptMethod: number;
  l1TableOffset: number;
  clusterSize: number;
  /** Entries in an L2 table, and the guest bytes one L2 table covers. */
  l2Entries: number;
  l2Coverage: number;
  l1Entries: number;
}

const fail = (
  kind: 'invalid-format' | 'unsupported' | 'limit',
  message: string,
  field: string,
  offset: number,
  value?: number | string,
): never => {
  throw new DiskImgError(kind, message, { field, offset, value });
};

export function parseHeader(head: Uint8Array): QcowHeader {
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const magic = v.getUint32(0);
  if (magic !== QCOW_MAGIC) fail('invalid-format', 'Image not in qcow format', 'magic', 0, magic);
  const version = v.getUint32(4);
  if (version !== 1) {
    const hint = version === 2 || version === 3 ? "Try the 'qcow2' driver instead." : undefined;
    throw new DiskImgError('unsupported', `qcow (v1) does not support qcow version ${version}`, {
      field: 'version',
      offset: 4,
      value: version,
      hint,
    });
  }
  const size = v.getBigUint64(24);
  if (size <= 1n) fail('invalid-format', 'Image size is too small (must be at least 2 bytes)', 'size', 24, Number(size));
  const clusterBits = v.getUint8(32);
  if (clusterBits < 9 || clusterBits > 16)
    fail('invalid-format', 'Cluster size must be between 512 and 64k', 'cluster_bits', 32, clusterBits);
  const l2Bits = v.getUint8(33);
  if (l2Bits < 6 || l2Bits > 13) fail('invalid-format', 'L2 table size must be between 512 and 64k', 'l2_bits', 33, l2Bits);
  const cryptMethod = v.getUint32(36);
  if (cryptMethod !== CRYPT_NONE && cryptMethod !== CRYPT_AES)
    fail('unsupported', 'invalid encryption method in qcow header', 'crypt_method', 36, cryptMethod);
  const shift = BigInt(clusterBits + l2Bits);
  const l1Entries = (size + (1n << shift) - 1n) >> shift;
  if (size > 0xffff_ffff_ffff_ffffn - (1n << shift) || l1Entries > BigInt(Math.floor(INT_MAX / 8)))
    fail('limit', 'Image too large', 'size', 24, `0x${size.toString(16)}`);
  // qemu takes sizes up to 2^57 here; past 2^53 a JavaScript number is no longer exact.
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) fail('limit', 'Image too large', 'size', 24, `0x${size.toString(16)}`);
  const l1TableOffset = v.getBigUint64(40);
  if (l1TableOffset > BigInt(Number.MAX_SAFE_INTEGER))
    fail(
      'invalid-format',
      `L1 table offset 0x${l1TableOffset.toString(16)} is past any file`,
      'l1_table_offset',
      40,
      `0x${l1TableOffset.toString(16)}`,
    );
  const clusterSize = 2 ** clusterBits;
  const l2Entries = 2 ** l2Bits;
  return {
    version,
    backingFileOffset: Number(v.getBigUint64(8)),
    backingFileSize: v.getUint32(16),
    mtime: v.getUint32(20),
    size: Number(size),
    clusterBits,
    l2Bits,
    cryptMethod,
    l1TableOffset: Number(l1TableOffset),
    clusterSize,
    l2Entries,
    l2Coverage: clusterSize * l2Entries,
    l1Entries: Number(l1Entries),
  };
}

/** The backing file name, read as qemu reads it: at most 1023 bytes, up to a NUL. */
export function checkBackingName(h: QcowHeader): void {
  if (h.backingFileOffset !== 0 && h.backingFileSize > 1023)
    fail('limit', 'Backing file name too long', 'backing_file_size', 16, h.backingFileSize);
}

export function backingName(bytes: Uint8Array): string | undefined {
  const end = bytes.indexOf(0);
  const name = utf8(end < 0 ? bytes : bytes.subarray(0, end));
  return name === '' ? undefined : name;
}
