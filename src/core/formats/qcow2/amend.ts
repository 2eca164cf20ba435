/**
 * qemu-img amend for qcow2, in place, in qcow2_amend_options' order: an upgrade first (v2 → v3),
 * then refcount_bits, lazy_refcounts, the size, and a downgrade last (v3 → v2), each switched on
 * by one header write (qcow2_update_header) after whatever it needs is on disk (LUKS key slots
 * are keyslots.ts's, run by the CLI before these):
 * - upgrade: the header as v3 (112 bytes, the feature table);
 * - refcount_bits: refcount-order.ts;
 * - lazy_refcounts: the compatible bit (turned off, the image is clean first: diskimg refuses a
 *   dirty one, as every in-place verb here does);
 * - downgrade (qcow2_downgrade): QEMU's refusals (refcount_bits other than 16, a data file, other
 *   incompatible features, zstd with compressed clusters), then its zero clusters expanded
 *   (qcow2_expand_zero_clusters: an unallocated zero cluster without a backing file becomes
 *   unallocated, a preallocated one is zeroed and loses its flag — each L2 table written once its
 *   data clusters read as zeros), then the header as v2. A crash before that last write leaves a
 *   valid v3 image with fewer zero flags and the same disk.
 * What diskimg does not do yet it refuses before any write, with a message saying so:
 * zero clusters that would need new clusters
 * (a backing file) or that a snapshot shares, and a downgrade of an image with persistent
 * bitmaps (qemu-img 7.2 writes a v2 image that still names them, with leaked clusters).
 */
import { DiskImgError } from '../../errors.ts';
import type { WritableStorage } from '../../storage/writable.ts';
import { COMPAT_LAZY_REFCOUNTS, hasIncompat, INCOMPAT_COMPRESSION, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, type Qcow2Header } from './header.ts';
import { rebuildHeader } from './header-update.ts';
import type { Extensions } from './extensions.ts';
import { readSnapshots } from './snapshots.ts';
import { changeRefcountOrder } from './refcount-order.ts';

const OFFSET_MASK = 0x00fffffffffffe00n;
const COPIED = 1n << 63n;
const COMPRESSED = 1n << 62n;
const ZERO_FLAG = 1n;

export interface AmendRequest {
  version?: 2 | 3;
  lazyRefcounts?: boolean;
  refcountBits?: number;
}

const refuse = (message: string, kind: 'usage' | 'unsupported' = 'usage'): never => {
  throw new DiskImgError(kind, message, { field: 'amend' });
};

/** What the downgrade would have to do with zero clusters: the L2 tables to rewrite. */
interface ZeroPlan {
  l2Offsets: number[];
}

async function readL1(file: WritableStorage, offset: number, size: number): Promise<bigint[]> {
  const bytes = await file.read(offset, size * 8);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return Array.from({ length: size }, (_, i) => v.getBigUint64(i * 8));
}

const isZero = (entry: bigint) => (entry & COMPRESSED) === 0n && (entry & ZERO_FLAG) !== 0n;

/** Scans the tables of an L1 for zero clusters (and compressed ones); one L2 table in memory at a time. */
async function scan(
  file: WritableStorage,
  h: Qcow2Header,
  l1: bigint[],
): Promise<{ zeroTables: number[]; compressed: boolean; zeroPlain: boolean }> {
  const out = { zeroTables: [] as number[], compressed: false, zeroPlain: false };
  for (const l1Entry of l1) {
    const l2Offset = Number(l1Entry & OFFSET_MASK);
    if (l2Offset === 0) continue;
    const l2 = await file.read(l2Offset, h.clusterSize);
    const v = new DataView(l2.buffer, l2.byteOffset, l2.length);
    let zeros = false;
    for (let j = 0; j < h.l2Entries; j++) {
      const entry = v.getBigUint64(j * h.l2EntryBytes);
      if (entry & COMPRESSED) out.compressed = true;
      else if (isZero(entry)) {
        zeros = true;
        if ((entry & OFFSET_MASK) === 0n) out.zeroPlain = true;
      }
    }
    if (zeros) out.zeroTables.push(l2Offset);
  }
  return out;
}

/** qcow2_downgrade's checks, in its order, and the zero clusters it would expand. */
async function planDowngrade(
  file: WritableStorage,
  h: Qcow2Header,
  ext: Extensions,
  refcountBits: number,
  hasBacking: boolean,
): Promise<ZeroPlan> {
  if (refcountBits !== 16) refuse('compat=0.10 requires refcount_bits=16');
  if (ext.dataFile !== undefined) refuse('Cannot downgrade an image with a data file');
  const incompatible = h.incompatibleFeatures & ~BigInt(INCOMPAT_COMPRESSION) & ~BigInt(INCOMPAT_DIRTY);
  if (incompatible !== 0n) refuse(`Cannot downgrade an image with incompatible features 0x${incompatible.toString(16)} set`);
  if (ext.bitmaps)
    refuse(
      'diskimg does not downgrade an image with persistent bitmaps (qemu-img 7.2 leaves them named in a v2 header, with leaked clusters): remove them first with diskimg bitmap --remove',
      'unsupported',
    );
  const active = await scan(file, h, await readL1(file, h.l1TableOffset, h.l1Size));
  for (const snapshot of await readSnapshots(file, h)) {
    const found = await scan(file, h, await readL1(file, snapshot.l1TableOffset, snapshot.l1Size));
    if (found.zeroTables.length > 0)
      refuse(`Snapshot '${snapshot.name}' holds zero clusters: expanding them in snapshots is not supported by diskimg yet`, 'unsupported');
    active.compressed ||= found.compressed;
  }
  if (active.zeroTables.length > 0 && h.nbSnapshots > 0)
    refuse(
      'The image has zero clusters and snapshots: expanding zero clusters shared with snapshots is not supported by diskimg yet',
      'unsupported',
    );
  if (active.zeroPlain && hasBacking)
    refuse('Zero clusters over a backing file would need new clusters to downgrade: not supported by diskimg yet', 'unsupported');
  if (h.compressionType === 'zstd' && active.compressed)
    refuse('Cannot downgrade an image with zstd compression type and existing compressed clusters');
  return { l2Offsets: active.zeroTables };
}

/** qcow2_expand_zero_clusters without a backing file: plain zero → unallocated, preallocated zero → zeroed data. */
async function expandZeroClusters(file: WritableStorage, h: Qcow2Header, plan: ZeroPlan): Promise<void> {
  const cs = h.clusterSize;
  const zeros = new Uint8Array(cs);
  for (const l2Offset of plan.l2Offsets) {
    const l2 = await file.read(l2Offset, cs);
    const v = new DataView(l2.buffer, l2.byteOffset, l2.length);
    for (let j = 0; j < h.l2Entries; j++) {
      const entry = v.getBigUint64(j * h.l2EntryBytes);
      if (!isZero(entry)) continue;
      const offset = entry & OFFSET_MASK;
      if (offset === 0n) {
        v.setBigUint64(j * h.l2EntryBytes, 0n);
        continue;
      }
      await file.write(Number(offset), zeros);
      v.setBigUint64(j * h.l2EntryBytes, offset | (entry & COPIED));
    }
    // The data reads as zeros before the table stops saying so.
    await file.sync();
    await file.write(l2Offset, l2);
    await file.sync();
  }
}

/**
 * Changes `file` as qemu-img amend -o does. `resize` runs the size change (resize.ts) at its
 * place in the order, with the header as it is by then.
 */
export async function amendQcow2(
  file: WritableStorage,
  h: Qcow2Header,
  ext: Extensions,
  request: AmendRequest,
  options: { hasBacking: boolean; resize?: (h: Qcow2Header) => Promise<void> },
): Promise<void> {
  if (hasIncompat(h, INCOMPAT_CORRUPT)) refuse('qcow2: Image is corrupt; cannot be opened read/write', 'unsupported');
  if (hasIncompat(h, INCOMPAT_DIRTY))
    refuse('The image is marked dirty (its refcounts are not up to date): repair it with qemu-img check -r all first', 'unsupported');
  const oldVersion = h.version;
  const newVersion = request.version ?? oldVersion;
  const oldBits = 2 ** (h.version === 3 ? h.refcountOrder : 4);
  const refcountBits = request.refcountBits ?? oldBits;
  if (newVersion < 3 && refcountBits !== 16 && request.refcountBits !== undefined)
    refuse('Refcount widths other than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)');
  const lazy = request.lazyRefcounts ?? (h.compatibleFeatures & BigInt(COMPAT_LAZY_REFCOUNTS)) !== 0n;
  if (lazy && newVersion < 3 && request.lazyRefcounts !== undefined)
    refuse('Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)');
  // Everything the downgrade refuses, found before the first write.
  const plan = newVersion < oldVersion ? await planDowngrade(file, h, ext, refcountBits, options.hasBacking) : undefined;

  const cluster0 = await file.read(0, h.clusterSize);
  let current = h;
  const writeHeader = async (next: Qcow2Header, changes: Parameters<typeof rebuildHeader>[3]) => {
    await file.write(0, rebuildHeader(cluster0, current, ext, changes));
    await file.sync();
    current = next;
  };
  if (newVersion > oldVersion) {
    await writeHeader(
      { ...current, version: 3, refcountOrder: 4, headerLength: 112 },
      { version: 3, incompatible: 0n, compatible: 0n, autoclear: 0n, refcountOrder: 4 },
    );
  }
  if (refcountBits !== oldBits) {
    current = await changeRefcountOrder(file, current, ext, Math.log2(refcountBits));
    cluster0.set(await file.read(0, current.clusterSize));
  }
  const wasLazy = (current.compatibleFeatures & BigInt(COMPAT_LAZY_REFCOUNTS)) !== 0n;
  if (lazy !== wasLazy) {
    const compatible = lazy
      ? current.compatibleFeatures | BigInt(COMPAT_LAZY_REFCOUNTS)
      : current.compatibleFeatures & ~BigInt(COMPAT_LAZY_REFCOUNTS);
    await writeHeader({ ...current, compatibleFeatures: compatible }, { compatible });
  }
  if (options.resize) {
    await options.resize(current);
    // The size lives in the header the downgrade rewrites: read it back as resize left it.
    const after = await file.read(0, current.clusterSize);
    cluster0.set(after);
    const v = new DataView(after.buffer, after.byteOffset, after.length);
    current = {
      ...current,
      sizeField: Number(v.getBigUint64(24)),
      l1Size: v.getUint32(36),
      l1TableOffset: Number(v.getBigUint64(40)),
    };
  }
  if (plan) {
    await expandZeroClusters(file, current, plan);
    await writeHeader({ ...current, version: 2 }, { version: 2 });
  }
}
