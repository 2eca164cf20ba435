/**
 * L1 and L2 entries (qcow2.txt "Cluster mapping"; QEMU qcow2_get_cluster_type and
 * qcow2_get_subcluster_type). Entries are read as two 32-bit halves: `hi` holds bits 63..32,
 * `lo` bits 31..0, which keeps the hot loop free of BigInt.
 */
import type { Qcow2Header } from './header.ts';

export const OFLAG_COPIED_HI = 0x80000000;
export const OFLAG_COMPRESSED_HI = 0x40000000;
export const OFLAG_ZERO_LO = 0x1;
/** Bits 55..32 of the offset mask 0x00fffffffffffe00. */
const OFFSET_MASK_HI = 0x00ffffff;
const OFFSET_MASK_LO = 0xfffffe00;

export type SubclusterType = 'normal' | 'compressed' | 'zero-plain' | 'zero-alloc' | 'unallocated-plain' | 'unallocated-alloc' | 'invalid';

/** The host offset an L1 or standard L2 entry holds (bits 9..55). */
export function entryOffset(hi: number, lo: number): number {
  return (hi & OFFSET_MASK_HI) * 0x1_0000_0000 + ((lo & OFFSET_MASK_LO) >>> 0);
}

export interface CompressedDescriptor {
  hostOffset: number;
  /** Bytes QEMU reads: whole sectors from the one holding hostOffset. */
  length: number;
}

/** qcow2.txt "Compressed Clusters Descriptor": offset in the low bits, extra sectors above it. */
export function compressedDescriptor(h: Pick<Qcow2Header, 'clusterBits'>, hi: number, lo: number): CompressedDescriptor {
  const shift = BigInt(62 - (h.clusterBits - 8));
  const entry = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  const hostOffset = Number(entry & ((1n << shift) - 1n));
  const sectors = Number((entry >> shift) & ((1n << BigInt(h.clusterBits - 8)) - 1n)) + 1;
  return { hostOffset, length: sectors * 512 - (hostOffset & 511) };
}

/** The type of subcluster `sc` of an entry (for standard L2, sc is 0 and the bitmap unused). */
export function subclusterType(
  h: Qcow2Header,
  hasDataFile: boolean,
  hi: number,
  lo: number,
  bitmapHi: number,
  bitmapLo: number,
  sc: number,
): SubclusterType {
  if ((hi & OFLAG_COMPRESSED_HI) !== 0) return 'compressed';
  const offset = entryOffset(hi, lo);
  const unallocated = offset === 0 && !(hasDataFile && (hi & OFLAG_COPIED_HI) !== 0);
  if (!h.extendedL2) {
    if ((lo & OFLAG_ZERO_LO) !== 0) return unallocated ? 'zero-plain' : 'zero-alloc';
    return unallocated ? 'unallocated-plain' : 'normal';
  }
  // Extended L2: bits 0..31 of the bitmap say "allocated", bits 32..63 "reads as zero".
  const allocBit = (bitmapLo >>> sc) & 1;
  const zeroBit = (bitmapHi >>> sc) & 1;
  if (unallocated) {
    if (bitmapLo !== 0) return 'invalid';
    return zeroBit ? 'zero-plain' : 'unallocated-plain';
  }
  if ((bitmapHi & bitmapLo) !== 0) return 'invalid';
  if (zeroBit) return 'zero-alloc';
  return allocBit ? 'normal' : 'unallocated-alloc';
}
