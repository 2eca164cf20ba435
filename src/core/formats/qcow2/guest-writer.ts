/**
 * Guest writes into an existing qcow2 file, in place, the way QEMU's qcow2 driver places them
 * (block/qcow2-cluster.c qcow2_alloc_host_offset, qcow2_subcluster_zeroize): a cluster the image
 * holds alone (OFLAG_COPIED) is written where it is; any other — unallocated, shared with a
 * snapshot, compressed — gets new clusters, found first-fit, the L2 table first when it is missing
 * or shared (l2_allocate), then the run of data clusters. A zero write on a v3 image sets the zero
 * flag and frees what the entry held (BDRV_REQ_MAY_UNMAP, as qemu-img commit asks).
 *
 * Crash safety, each step synced before the next: new clusters' contents → their refcounts →
 * the L2 entries naming them → the L1 entry naming a new L2 table → the old clusters' refcounts
 * dropped (and zeroed where they reach 0, as QEMU's discard punches them). A process killed
 * anywhere leaves at worst leaked clusters, never a reference to a cluster without its refcount.
 */
import { DiskImgError } from '../../errors.ts';
import type { WritableStorage } from '../../storage/writable.ts';
import {
  AUTOCLEAR_BITMAPS,
  CRYPT_NONE,
  hasIncompat,
  INCOMPAT_CORRUPT,
  INCOMPAT_DATA_FILE,
  INCOMPAT_DIRTY,
  INCOMPAT_EXTL2,
  type Qcow2Header,
} from './header.ts';
import { Refcounts } from './refcounts.ts';

const OFFSET_MASK = 0x00fffffffffffe00n;
const COPIED = 1n << 63n;
const COMPRESSED = 1n << 62n;
const ZERO_FLAG = 1n;

const unsupported = (message: string): never => {
  throw new DiskImgError('unsupported', message);
};

/** What diskimg cannot write into in place: said before anything is written. */
export function refuseUnwritable(h: Qcow2Header, name: string): void {
  if (hasIncompat(h, INCOMPAT_CORRUPT)) unsupported(`Could not open '${name}': qcow2: Image is corrupt; cannot be opened read/write`);
  if (hasIncompat(h, INCOMPAT_DIRTY))
    unsupported(`'${name}' is marked dirty (its refcounts are not up to date): repair it with qemu-img check -r all first`);
  if (hasIncompat(h, INCOMPAT_DATA_FILE))
    unsupported(`'${name}' has an external data file: writing it in place is not supported by diskimg yet`);
  if (hasIncompat(h, INCOMPAT_EXTL2)) unsupported(`'${name}' has extended L2 entries: writing it in place is not supported by diskimg yet`);
  if (h.cryptMethod !== CRYPT_NONE)
    unsupported(`'${name}' is encrypted: writing an encrypted image in place is not supported by diskimg yet`);
  if ((h.autoclearFeatures & BigInt(AUTOCLEAR_BITMAPS)) !== 0n)
    unsupported(`'${name}' has persistent bitmaps: writing it in place (their dirty bits) is not supported by diskimg yet`);
}

/** Host clusters a compressed L2 entry touches: [first, first + count). */
function compressedClusters(h: Qcow2Header, entry: bigint): { first: number; count: number } {
  const offsetBits = 62 - (h.clusterBits - 8);
  const offset = Number(entry & ((1n << BigInt(offsetBits)) - 1n));
  const sectors = Number((entry >> BigInt(offsetBits)) & ((1n << BigInt(h.clusterBits - 8)) - 1n)) + 1;
  const end = (Math.floor(offset / 512) + sectors) * 512;
  const first = Math.floor(offset / h.clusterSize);
  return { first, count: Math.floor((end - 1) / h.clusterSize) - first + 1 };
}

/** An L2 table being changed: its bytes, where they go, whether that cluster is new, the table it replaces. */
interface Table {
  l1Index: number;
  bytes: Uint8Array;
  offset: number;
  fresh: boolean;
  old: number;
  /** What its changed entries held, to be released once the table is on disk (`discard`: zeroed if freed). */
  released: { entry: bigint; discard: boolean }[];
}

export class Qcow2GuestWriter {
  private readonly l1: DataView;
  /** Clusters whose refcount fell to 0: zeroed once the step that freed them is on disk. */
  private freed: number[] = [];
  /** The L2 table being changed, not yet written. */
  private pending: Table | undefined;

  private constructor(
    private readonly file: WritableStorage,
    private readonly h: Qcow2Header,
    private readonly refcounts: Refcounts,
    l1: Uint8Array,
  ) {
    this.l1 = new DataView(l1.buffer, l1.byteOffset, l1.length);
  }

  static async open(file: WritableStorage, h: Qcow2Header): Promise<Qcow2GuestWriter> {
    refuseUnwritable(h, file.name);
    const refcounts = await Refcounts.load(file, h);
    return new Qcow2GuestWriter(file, h, refcounts, await file.read(h.l1TableOffset, h.l1Size * 8));
  }

  private onFreed = (cluster: number) => {
    this.freed.push(cluster);
  };

  /**
   * Drops one reference to what an L2 entry held (a cluster, or a compressed cluster's sectors).
   * `discard`: a cluster left unused is zeroed, as QEMU passes a zero write's unmap on to the file
   * (a cluster replaced by a new one is not: QCOW2_DISCARD_NEVER).
   */
  private async release(entry: bigint, discard: boolean): Promise<void> {
    const onFreed = discard ? this.onFreed : undefined;
    if (entry & COMPRESSED) {
      const { first, count } = compressedClusters(this.h, entry);
      await this.refcounts.add(first, count, -1, onFreed);
      return;
    }
    const offset = Number(entry & OFFSET_MASK);
    if (offset !== 0) await this.refcounts.add(offset / this.h.clusterSize, 1, -1, onFreed);
  }

  private async zeroFreed(): Promise<void> {
    if (this.freed.length === 0) return;
    const cs = this.h.clusterSize;
    const zeros = new Uint8Array(cs);
    const length = await this.file.length();
    for (const cluster of this.freed.sort((a, b) => a - b)) {
      const offset = cluster * cs;
      if (offset < length) await this.file.write(offset, zeros.subarray(0, Math.min(cs, length - offset)));
    }
    this.freed = [];
    await this.file.sync();
  }

  /**
   * The L2 table for `l1Index`, ready to be changed: its current bytes, where it lives, and
   * whether it is new (a fresh cluster not yet named by the L1 table, QEMU's l2_allocate: found
   * first-fit before any data cluster of the same write). A shared table is copied.
   */
  private async table(l1Index: number): Promise<Table> {
    if (this.pending?.l1Index === l1Index) return this.pending;
    await this.flush();
    this.pending = await this.loadTable(l1Index);
    return this.pending;
  }

  private async loadTable(l1Index: number): Promise<Table> {
    const cs = this.h.clusterSize;
    if (l1Index >= this.h.l1Size)
      throw new DiskImgError('corrupt', `Guest offset past the L1 table (index ${l1Index} of ${this.h.l1Size})`, { value: l1Index });
    const entry = this.l1.getBigUint64(l1Index * 8);
    const old = Number(entry & OFFSET_MASK);
    if (old !== 0 && entry & COPIED) return { l1Index, bytes: await this.file.read(old, cs), offset: old, fresh: false, old, released: [] };
    const offset = (await this.refcounts.allocate(1)) * cs;
    const bytes = old !== 0 ? await this.file.read(old, cs) : new Uint8Array(cs);
    return { l1Index, bytes, offset, fresh: true, old, released: [] };
  }

  /** Names a fresh L2 table in the L1 table (after the table and its refcount are on disk). */
  private async linkTable(l1Index: number, offset: number, old: number): Promise<void> {
    const cs = this.h.clusterSize;
    await this.refcounts.add(offset / cs, 1, 1);
    await this.file.sync();
    const entry = new Uint8Array(8);
    new DataView(entry.buffer).setBigUint64(0, BigInt(offset) | COPIED);
    this.l1.setBigUint64(l1Index * 8, BigInt(offset) | COPIED);
    await this.file.write(this.h.l1TableOffset + l1Index * 8, entry);
    await this.file.sync();
    // The shared table it replaces keeps its other references (QCOW2_DISCARD_OTHER: not zeroed).
    if (old !== 0) await this.refcounts.add(old / cs, 1, -1);
  }

  /**
   * One write request of whole clusters at `guest` (cluster-aligned), as QEMU serves it: table by
   * table; in each, runs of clusters written in place, and runs needing new clusters allocated
   * together (first-fit for the whole run).
   */
  async writeData(guest: number, data: Uint8Array): Promise<void> {
    const h = this.h;
    if (guest % h.clusterSize !== 0 || data.length % h.clusterSize !== 0)
      throw new DiskImgError('usage', `Internal error: a write of ${data.length} bytes at ${guest} is not whole clusters`, {
        offset: guest,
      });
    for (let done = 0; done < data.length;) {
      const at = guest + done;
      const l1Index = Math.floor(at / h.l2Coverage);
      const tableEnd = (l1Index + 1) * h.l2Coverage;
      const length = Math.min(data.length - done, tableEnd - at);
      await this.writeInTable(l1Index, at, data.subarray(done, done + length));
      done += length;
    }
  }

  private async writeInTable(l1Index: number, guest: number, data: Uint8Array): Promise<void> {
    const cs = this.h.clusterSize;
    const first = (guest % this.h.l2Coverage) / cs;
    const count = data.length / cs;
    const table = await this.table(l1Index);
    const view = new DataView(table.bytes.buffer, table.bytes.byteOffset, cs);
    const entry = (i: number) => view.getBigUint64((first + i) * 8);
    const inPlace = (e: bigint) => (e & COPIED) !== 0n && (e & COMPRESSED) === 0n && (e & OFFSET_MASK) !== 0n;
    const released: bigint[] = [];
    for (let i = 0; i < count;) {
      let run = 1;
      if (inPlace(entry(i))) {
        const host = entry(i) & OFFSET_MASK;
        while (i + run < count && inPlace(entry(i + run)) && (entry(i + run) & OFFSET_MASK) === host + BigInt(run * cs)) run++;
        await this.file.write(Number(host), data.subarray(i * cs, (i + run) * cs));
        // A zero flag on an allocated cluster (ZERO_ALLOC) goes: the cluster holds data now.
        for (let j = i; j < i + run; j++) view.setBigUint64((first + j) * 8, entry(j) & ~ZERO_FLAG);
      } else {
        while (i + run < count && !inPlace(entry(i + run))) run++;
        const host = (await this.refcounts.allocate(run)) * cs;
        // Data and refcount in either order: both are synced before the table names them.
        await this.file.write(host, data.subarray(i * cs, (i + run) * cs));
        await this.refcounts.add(host / cs, run, 1);
        for (let j = i; j < i + run; j++) {
          const old = entry(j);
          if ((old & COMPRESSED) !== 0n || (old & OFFSET_MASK) !== 0n) released.push(old);
          view.setBigUint64((first + j) * 8, BigInt(host + (j - i) * cs) | COPIED);
        }
      }
      i += run;
    }
    this.commitTable(table, released, false);
  }

  /** Writes the changed table (synced), links it if it is new, then drops what it no longer names. */
  private commitTable(table: Table, released: bigint[], discard: boolean): void {
    for (const entry of released) table.released.push({ entry, discard });
  }

  /**
   * Puts the table being changed on disk: the data and refcounts it names are synced first, then
   * the table, then (a new one) the L1 entry, then what it no longer names is released. Writes to
   * one table are gathered until another table is needed, or until the caller's last flush().
   */
  async flush(): Promise<void> {
    const table = this.pending;
    if (!table) return;
    this.pending = undefined;
    await this.file.sync();
    await this.file.write(table.offset, table.bytes);
    await this.file.sync();
    if (table.fresh) await this.linkTable(table.l1Index, table.offset, table.old);
    for (const { entry, discard } of table.released) await this.release(entry, discard);
    await this.file.sync();
    await this.zeroFreed();
  }

  /**
   * Full discard of [guest, guest + length) within one L2 table (qcow2_cluster_discard with
   * full_discard): every entry cleared, what it held freed and zeroed. The table is made writable
   * first even where nothing changes, as QEMU's get_cluster_table does.
   */
  async discard(guest: number, length: number): Promise<void> {
    const h = this.h;
    const cs = h.clusterSize;
    const l1Index = Math.floor(guest / h.l2Coverage);
    const table = await this.table(l1Index);
    const view = new DataView(table.bytes.buffer, table.bytes.byteOffset, cs);
    const first = (guest % h.l2Coverage) / cs;
    const released: bigint[] = [];
    for (let i = first; i < first + Math.ceil(length / cs); i++) {
      const old = view.getBigUint64(i * 8);
      if (old === 0n) continue;
      view.setBigUint64(i * 8, 0n);
      if ((old & COMPRESSED) !== 0n || (old & OFFSET_MASK) !== 0n) released.push(old);
    }
    this.commitTable(table, released, true);
  }

  /**
   * Zeroes whole clusters [guest, guest + length): the zero flag on v3 (what they held freed);
   * v2 has none, and QEMU writes clusters of zeros instead.
   */
  async writeZeros(guest: number, length: number): Promise<void> {
    const h = this.h;
    const cs = h.clusterSize;
    if (guest % cs !== 0 || length % cs !== 0)
      throw new DiskImgError('usage', `Internal error: zeroing ${length} bytes at ${guest} is not whole clusters`, { offset: guest });
    if (h.version < 3) {
      const step = 16 * cs;
      for (let at = guest; at < guest + length; at += step) await this.writeData(at, new Uint8Array(Math.min(step, guest + length - at)));
      return;
    }
    for (let at = guest; at < guest + length;) {
      const l1Index = Math.floor(at / h.l2Coverage);
      const end = Math.min(guest + length, (l1Index + 1) * h.l2Coverage);
      const table = await this.table(l1Index);
      const view = new DataView(table.bytes.buffer, table.bytes.byteOffset, cs);
      const released: bigint[] = [];
      for (let c = at; c < end; c += cs) {
        const index = ((c % h.l2Coverage) / cs) * 8;
        const old = view.getBigUint64(index);
        const allocated = (old & COMPRESSED) !== 0n || (old & OFFSET_MASK) !== 0n;
        const next = ZERO_FLAG;
        if (old === next) continue;
        view.setBigUint64(index, next);
        if (allocated) released.push(old);
      }
      this.commitTable(table, released, true);
      at = end;
    }
  }
}
