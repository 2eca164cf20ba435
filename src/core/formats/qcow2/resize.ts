/**
 * qemu-img resize for qcow2, in place, as QEMU does it (block/qcow2.c qcow2_co_truncate,
 * qcow2_grow_l1_table): growing changes only the header's size, unless the L1 table must grow; then
 * a new one, exactly as long as the new size needs, goes into the lowest free clusters, and the
 * old one's clusters are freed (left as they are on disk: QEMU does not discard them either). The
 * result is byte for byte the file qemu-img leaves.
 *
 * Crash safety comes from the order of the writes, each step synced before the next:
 *   1. the new L1 table, into clusters nothing references yet;
 *   2. their refcounts (a crash here or before leaves at worst leaked clusters: `check -r leaks`);
 *   3. the header, in one write of the bytes that name the size and the L1 table — the switch;
 *   4. the old table's refcounts dropped (a crash before this leaks its clusters, nothing worse).
 * Shrinking discards what lies past the new end; it is written in the same order (tables cleared
 * before the clusters they pointed to are freed, the header last).
 */
import { DiskImgError } from '../../errors.ts';
import type { WritableStorage } from '../../storage/writable.ts';
import { hasIncompat, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, INCOMPAT_DATA_FILE, type Qcow2Header } from './header.ts';
import { Refcounts } from './refcounts.ts';

const QCOW_MAX_L1_SIZE = 32 * 1024 * 1024;
/** The most L1 entries QEMU accepts (32 MiB of them). */
export const QCOW_MAX_L1_ENTRIES = QCOW_MAX_L1_SIZE / 8;
const L2E_OFFSET_MASK = 0x00fffffffffffe00n;
const L1E_OFFSET_MASK = 0x00fffffffffffe00n;
const COMPRESSED_FLAG = 1n << 62n;
const COPIED_FLAG = 1n << 63n;

const unsupported = (message: string): never => {
  throw new DiskImgError('unsupported', message);
};
const usage = (message: string, value?: number): never => {
  throw new DiskImgError('usage', message, { field: 'size', value });
};

export interface Qcow2ResizeFacts {
  /** The image has persistent bitmaps (their data would have to be resized too). */
  hasBitmaps: boolean;
}

/** What resizing this image needs that diskimg does not do: said before anything is written. */
function refuseUnsupported(h: Qcow2Header, facts: Qcow2ResizeFacts): void {
  if (hasIncompat(h, INCOMPAT_CORRUPT)) unsupported('qcow2: Image is corrupt; cannot be opened read/write');
  if (hasIncompat(h, INCOMPAT_DIRTY))
    unsupported('The image is marked dirty (its refcounts are not up to date): repair it with qemu-img check -r all first');
  if (hasIncompat(h, INCOMPAT_DATA_FILE)) unsupported('Resizing an image with an external data file is not supported by diskimg yet');
  if (facts.hasBitmaps)
    unsupported('Resizing an image with persistent bitmaps is not supported by diskimg yet (their data must be resized too)');
}

async function readL1(file: WritableStorage, h: Qcow2Header): Promise<Uint8Array> {
  return file.read(h.l1TableOffset, h.l1Size * 8);
}

/** Header bytes 24..47: size, crypt_method (kept), l1_size, l1_table_offset. */
function headerTail(h: Qcow2Header, size: number, l1Size: number, l1Offset: number): Uint8Array {
  const bytes = new Uint8Array(24);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(size));
  view.setUint32(8, h.cryptMethod);
  view.setUint32(12, l1Size);
  view.setBigUint64(16, BigInt(l1Offset));
  return bytes;
}

const clustersFor = (bytes: number, clusterSize: number) => Math.ceil(bytes / clusterSize);

async function grow(file: WritableStorage, h: Qcow2Header, newSize: number): Promise<void> {
  const newL1Size = Math.ceil(newSize / h.l2Coverage);
  if (newL1Size <= h.l1Size) {
    await file.write(24, headerTail(h, newSize, h.l1Size, h.l1TableOffset));
    await file.sync();
    return;
  }
  if (newL1Size > QCOW_MAX_L1_SIZE / 8) usage('Failed to grow the L1 table: File too large', newSize);
  const cs = h.clusterSize;
  const refcounts = await Refcounts.load(file, h);
  const tableBytes = newL1Size * 8;
  const count = clustersFor(tableBytes, cs);
  // New refcount blocks are made as QEMU makes them; a new, larger reftable is not (yet): refused
  // before any write when the table and its blocks could reach past the reftable's end.
  const worstEnd = Math.ceil((await file.length()) / cs) + count + 2 * Math.ceil(count / refcounts.perBlock) + 2;
  if (worstEnd > refcounts.reach)
    unsupported(
      'The new L1 table could lie past what the refcount table can reach: growing the refcount table is not supported by diskimg yet',
    );
  const first = await refcounts.allocate(count);
  const table = new Uint8Array(tableBytes);
  table.set(await readL1(file, h));
  // 1. The new table, where nothing points yet.
  await file.write(first * cs, table);
  await file.sync();
  // 2. Its refcounts.
  await refcounts.add(first, count, 1);
  await file.sync();
  // 3. The header switches to it (and to the new size) in one write.
  await file.write(24, headerTail(h, newSize, newL1Size, first * cs));
  await file.sync();
  // 4. The old table is free.
  if (h.l1Size > 0) await refcounts.add(Math.floor(h.l1TableOffset / cs), clustersFor((h.l1TableOffset % cs) + h.l1Size * 8, cs), -1);
  await file.sync();
}

/** The host clusters a standard or compressed L2 entry holds, to be freed. */
function entryClusters(entry: bigint, h: Qcow2Header): [number, number] | undefined {
  if (entry & COMPRESSED_FLAG) {
    // Compressed: the sectors field follows the offset bits (qcow2.md §2.4).
    const offsetBits = 62 - (h.clusterBits - 8);
    const offset = Number(entry & ((1n << BigInt(offsetBits)) - 1n));
    const sectors = Number((entry >> BigInt(offsetBits)) & ((1n << BigInt(h.clusterBits - 8)) - 1n)) + 1;
    const end = (Math.floor(offset / 512) + sectors) * 512;
    const first = Math.floor(offset / h.clusterSize);
    return [first, Math.floor((end - 1) / h.clusterSize) - first + 1];
  }
  const offset = Number(entry & L2E_OFFSET_MASK);
  return offset === 0 ? undefined : [offset / h.clusterSize, 1];
}

/**
 * qcow2_co_truncate's shrink: the L2 entries past the new end cleared and their clusters freed
 * (qcow2_cluster_discard), the L1 entries past it cleared and their L2 tables freed
 * (qcow2_shrink_l1_table), then the file cut after its last used cluster.
 */
async function shrink(file: WritableStorage, h: Qcow2Header, newSize: number): Promise<void> {
  // Tables shared with a snapshot would first have to be copied (QEMU's copy on write).
  if (h.nbSnapshots > 0) unsupported('Shrinking an image with internal snapshots is not supported by diskimg yet');
  const cs = h.clusterSize;
  const refcounts = await Refcounts.load(file, h);
  const l1 = await readL1(file, h);
  const l1View = new DataView(l1.buffer, l1.byteOffset, l1.length);
  const firstGone = Math.ceil(newSize / cs); // guest clusters from here on go
  const newL1Size = Math.ceil(newSize / h.l2Coverage);
  const entrySize = h.l2EntryBytes;
  // Each table in turn, so memory holds one table's worth: its entries past the end cleared
  // (synced), then the clusters they held freed and zeroed — zeroed as QEMU discards them (it
  // punches holes, which read as zeros: the file's bytes come out the same).
  const free = async (runs: readonly [number, number][]) => {
    const zeroed: number[] = [];
    for (const [first, count] of runs) await refcounts.add(first, count, -1, (cluster) => zeroed.push(cluster));
    await file.sync();
    await zeroClusters(
      file,
      zeroed.sort((a, b) => a - b),
      cs,
    );
  };
  // QEMU's discard walks every L2 table of the range, and gives an index without one a new,
  // empty table first (get_cluster_table → l2_allocate): the file then holds it too.
  const lastIndex = Math.min(h.l1Size, Math.ceil(h.virtualSize / h.l2Coverage)) - 1;
  const firstIndex = firstGone * cs < h.virtualSize ? Math.floor(firstGone / h.l2Entries) : lastIndex + 1;
  let missing = 0;
  for (let i = firstIndex; i <= lastIndex; i++) {
    const entry = l1View.getBigUint64(i * 8);
    if (entry === 0n) missing++;
    else if (!(entry & COPIED_FLAG))
      unsupported(`L2 table ${i} is shared (its COPIED flag is clear): shrinking it is not supported by diskimg yet`);
  }
  if (missing > 0) {
    // Fails before any write if the new tables could reach past what the reftable can name.
    const reach = h.refcountTableClusters * (cs / 8) * ((cs * 8) / 2 ** h.refcountOrder);
    if (Math.ceil((await file.length()) / cs) + 2 * missing >= reach)
      unsupported(
        'The new L2 tables could lie past what the refcount table can reach: growing the refcount table is not supported by diskimg yet',
      );
  }
  for (let i = firstIndex; i <= lastIndex; i++) {
    let l2Offset = Number(l1View.getBigUint64(i * 8) & L1E_OFFSET_MASK);
    if (l2Offset === 0) {
      // An empty table (data, refcount, then the L1 entry that makes it reachable).
      l2Offset = (await refcounts.allocate(1)) * cs;
      await file.write(l2Offset, new Uint8Array(cs));
      await file.sync();
      await refcounts.add(l2Offset / cs, 1, 1);
      await file.sync();
      const entry = new Uint8Array(8);
      new DataView(entry.buffer).setBigUint64(0, BigInt(l2Offset) | COPIED_FLAG);
      l1.set(entry, i * 8);
      await file.write(h.l1TableOffset + i * 8, entry);
      await file.sync();
      continue;
    }
    const l2 = await file.read(l2Offset, cs);
    const l2View = new DataView(l2.buffer, l2.byteOffset, l2.length);
    const freed: [number, number][] = [];
    let changed = false;
    for (let j = Math.max(0, firstGone - i * h.l2Entries); j < h.l2Entries; j++) {
      const at = j * entrySize;
      const entry = l2View.getBigUint64(at);
      const extra = h.extendedL2 ? l2View.getBigUint64(at + 8) : 0n;
      if (entry === 0n && extra === 0n) continue;
      const clusters = entryClusters(entry, h);
      if (clusters) freed.push(clusters);
      l2View.setBigUint64(at, 0n);
      if (h.extendedL2) l2View.setBigUint64(at + 8, 0n);
      changed = true;
    }
    if (!changed) continue;
    await file.write(l2Offset, l2);
    await file.sync();
    await free(freed);
  }
  // The L1 entries past the new table's end cleared (the table keeps its length, as QEMU's
  // does), then the L2 tables they named freed.
  if (newL1Size < h.l1Size) {
    await file.write(h.l1TableOffset + newL1Size * 8, new Uint8Array((h.l1Size - newL1Size) * 8));
    await file.sync();
    const tables: [number, number][] = [];
    for (let i = newL1Size; i < h.l1Size; i++) {
      const l2Offset = Number(l1View.getBigUint64(i * 8) & L1E_OFFSET_MASK);
      if (l2Offset !== 0) tables.push([l2Offset / cs, 1]);
    }
    await free(tables);
  }
  // Refcount blocks left counting nothing go (qcow2_shrink_reftable).
  const freedBlocks = await refcounts.dropUnusedBlocks();
  await file.sync();
  await zeroClusters(file, freedBlocks, cs);
  // The header's new size, then the file's tail after its last used cluster.
  await file.write(24, headerTail(h, newSize, h.l1Size, h.l1TableOffset));
  await file.sync();
  const length = await file.length();
  const last = await refcounts.lastUsed(Math.ceil(length / cs));
  if ((last + 1) * cs < length) await file.truncate((last + 1) * cs);
}

/** Writes zeros over the clusters (sorted), in runs of at most 1 MiB. */
async function zeroClusters(file: WritableStorage, clusters: readonly number[], clusterSize: number): Promise<void> {
  const length = await file.length();
  const zeros = new Uint8Array(Math.max(clusterSize, 1 << 20));
  for (let i = 0; i < clusters.length;) {
    let run = 1;
    while (i + run < clusters.length && clusters[i + run] === clusters[i] + run && (run + 1) * clusterSize <= zeros.length) run++;
    const offset = clusters[i] * clusterSize;
    const bytes = Math.min(run * clusterSize, length - offset);
    if (bytes > 0) await file.write(offset, zeros.subarray(0, bytes));
    i += run;
  }
}

/** Resizes the qcow2 image in `file` to `newSize` bytes. */
export async function resizeQcow2(file: WritableStorage, h: Qcow2Header, newSize: number, facts: Qcow2ResizeFacts): Promise<void> {
  if (newSize % 512 !== 0) usage('The new size must be a multiple of 512', newSize);
  refuseUnsupported(h, facts);
  if (newSize >= h.virtualSize) await grow(file, h, newSize);
  else await shrink(file, h, newSize);
}
