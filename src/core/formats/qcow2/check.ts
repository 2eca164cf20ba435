/**
 * `qemu-img check` for qcow2 (block/qcow2-refcount.c, qcow2_check_refcounts): every reference the
 * image makes (header, tables, data, snapshots, refcount structures) is counted and compared with
 * the refcounts stored in the file. Leaks waste space; corruptions risk data. Read-only: nothing
 * is repaired.
 */
import { be64, be64n, cHex, view } from '../../bytes.ts';
import type { CheckResult, LeakedCluster } from '../../image.ts';
import { compressedDescriptor, entryOffset, OFLAG_COMPRESSED_HI, OFLAG_COPIED_HI } from './entries.ts';
import { readBitmaps } from './describe.ts';
import type { Qcow2Layer } from './layer.ts';
import { MAX_L1_BYTES, SNAPSHOT_HEADER_BYTES } from './header.ts';

const L1_RESERVED_HI = 0x7f000000;
const L1_RESERVED_LO = 0x000001ff;
const L2_STD_RESERVED_HI = 0x3f000000;
const L2_STD_RESERVED_LO = 0x000001fe;

/** A growable table of computed references, one count per host cluster. */
class References {
  counts = new Uint32Array(1024);
  grow(index: number): void {
    if (index < this.counts.length) return;
    let size = this.counts.length;
    while (size <= index) size *= 2;
    const next = new Uint32Array(size);
    next.set(this.counts);
    this.counts = next;
  }
}

/** qemu-img check of a qcow2 layer. */
export function checkQcow2(layer: Qcow2Layer): Promise<CheckResult> {
  return new Checker(layer).run();
}

class Checker {
  private readonly h;
  private readonly cs: number;
  private readonly fileLength: number;
  private readonly refs = new References();
  private readonly messages: string[] = [];
  private corruptions = 0;
  private leaks = 0;
  private readonly leakedClusters: LeakedCluster[] = [];
  private checkErrors = 0;
  private allocated = 0;
  private fragmented = 0;
  private compressed = 0;
  private nextContiguous = 0;
  private readonly refcountMax: number;

  constructor(private readonly layer: Qcow2Layer) {
    this.h = layer.header;
    this.cs = this.h.clusterSize;
    this.fileLength = layer.storage.size;
    this.refcountMax = 2 ** (2 ** this.h.refcountOrder) - 1;
  }

  private read(offset: number, length: number): Promise<Uint8Array> {
    return this.layer.storage.read(offset, length);
  }

  /** qcow2_inc_refcounts_imrt */
  private reference(offset: number, size: number): void {
    if (size <= 0) return;
    if (offset + size - this.fileLength >= this.cs) {
      this.messages.push(
        `ERROR: counting reference for region exceeding the end of the file by one cluster or more: offset ${cHex(offset)} size ${cHex(size)}`,
      );
      this.corruptions++;
      return;
    }
    const first = Math.floor(offset / this.cs);
    const last = Math.floor((offset + size - 1) / this.cs);
    for (let k = first; k <= last; k++) {
      this.refs.grow(k);
      if (this.refs.counts[k] >= Math.min(this.refcountMax, 0xffffffff)) {
        this.messages.push(`ERROR: overflow cluster offset=${cHex(k * this.cs)}`);
        this.corruptions++;
        continue;
      }
      this.refs.counts[k]++;
    }
  }

  async run(): Promise<CheckResult> {
    const h = this.h;
    this.reference(0, this.cs);
    await this.checkL1(h.l1TableOffset, h.l1Size, true);
    for (const snapshot of this.layer.snapshots) {
      // calculate_refcounts: a damaged snapshot entry is counted and skipped, never followed.
      const name = `${snapshot.id} (${snapshot.name})`;
      if (snapshot.l1TableOffset % this.cs !== 0) {
        this.messages.push(
          `ERROR snapshot ${name} l1_offset=0x${snapshot.l1TableOffset.toString(16)}: L1 table is not cluster aligned; snapshot table entry corrupted`,
        );
        this.corruptions++;
        continue;
      }
      if (snapshot.l1Size > MAX_L1_BYTES / 8) {
        this.messages.push(
          `ERROR snapshot ${name} l1_size=0x${snapshot.l1Size.toString(16)}: L1 table is too large; snapshot table entry corrupted`,
        );
        this.corruptions++;
        continue;
      }
      await this.checkL1(snapshot.l1TableOffset, snapshot.l1Size, false);
    }
    if (h.nbSnapshots > 0) this.reference(h.snapshotsOffset, await this.snapshotTableSize());
    this.reference(h.refcountTableOffset, h.refcountTableClusters * this.cs);
    if (this.layer.extensions.crypto) this.reference(this.layer.extensions.crypto.offset, this.layer.extensions.crypto.length);
    await this.referenceBitmaps();
    const reftable = view(await this.read(h.refcountTableOffset, h.refcountTableClusters * this.cs));
    const refblocks = this.referenceRefblocks(reftable);
    const highest = await this.compareRefcounts(refblocks);
    await this.checkCopiedFlags(refblocks);
    return {
      filename: this.layer.storage.name,
      format: 'qcow2',
      'check-errors': this.checkErrors,
      corruptions: this.corruptions,
      leaks: this.leaks,
      'image-end-offset': (highest + 1) * this.cs,
      'total-clusters': Math.ceil(h.virtualSize / this.cs),
      'allocated-clusters': this.allocated,
      'fragmented-clusters': this.fragmented,
      'compressed-clusters': this.compressed,
      messages: this.messages,
      leakedClusters: this.leakedClusters,
    };
  }

  private async snapshotTableSize(): Promise<number> {
    // The table's size is the sum of its variable-length entries, each 8-aligned.
    let offset = this.h.snapshotsOffset;
    for (let i = 0; i < this.h.nbSnapshots; i++) {
      const head = view(await this.read(offset, SNAPSHOT_HEADER_BYTES));
      offset += SNAPSHOT_HEADER_BYTES + head.getUint32(36) + head.getUint16(12) + head.getUint16(14);
      offset = (offset + 7) & ~7;
    }
    return offset - this.h.snapshotsOffset;
  }

  private async referenceBitmaps(): Promise<void> {
    const ext = this.layer.extensions.bitmaps;
    if (!ext) return;
    this.reference(ext.directoryOffset, ext.directorySize);
    for (const bitmap of await readBitmaps(this.layer)) {
      this.reference(bitmap.tableOffset, bitmap.tableSize * 8);
      const table = view(await this.read(bitmap.tableOffset, bitmap.tableSize * 8));
      for (let i = 0; i < bitmap.tableSize; i++) {
        const offset = entryOffset(table.getUint32(i * 8), table.getUint32(i * 8 + 4));
        if (offset > 1) this.reference(offset, this.cs);
      }
    }
  }

  /** check_refcounts_l1 and check_refcounts_l2 */
  private async checkL1(l1Offset: number, l1Size: number, active: boolean): Promise<void> {
    this.reference(l1Offset, l1Size * 8);
    if (l1Size === 0) return;
    const l1 = view(await this.read(l1Offset, l1Size * 8));
    for (let i = 0; i < l1Size; i++) {
      const hi = l1.getUint32(i * 8);
      const lo = l1.getUint32(i * 8 + 4);
      if (hi === 0 && lo === 0) continue;
      if ((hi & L1_RESERVED_HI) !== 0 || (lo & L1_RESERVED_LO) !== 0) {
        this.messages.push(`ERROR found L1 entry with reserved bits set: ${be64n(l1, i * 8).toString(16)}`);
        this.corruptions++;
      }
      const l2Offset = entryOffset(hi, lo);
      if (l2Offset === 0) continue;
      this.reference(l2Offset, this.cs);
      if (l2Offset % this.cs !== 0) {
        this.messages.push(`ERROR l2_offset=${l2Offset.toString(16)}: Table is not cluster aligned; L1 entry corrupted`);
        this.corruptions++;
        continue;
      }
      await this.checkL2(l2Offset, active);
    }
  }

  private async checkL2(l2Offset: number, active: boolean): Promise<void> {
    const h = this.h;
    // QEMU measures contiguity within one L2 table: each table starts afresh.
    this.nextContiguous = 0;
    const table = view(await this.read(l2Offset, this.cs));
    for (let i = 0; i < h.l2Entries; i++) {
      const at = i * h.l2EntryBytes;
      const hi = table.getUint32(at);
      const lo = table.getUint32(at + 4);
      if ((hi & OFLAG_COMPRESSED_HI) !== 0) {
        if ((hi & OFLAG_COPIED_HI) !== 0) {
          const d = compressedDescriptor(h, hi, lo);
          this.messages.push(`ERROR: coffset=0x${d.hostOffset.toString(16)}: copied flag must never be set for compressed clusters`);
          this.corruptions++;
        }
        if (h.extendedL2 && (table.getUint32(at + 8) !== 0 || table.getUint32(at + 12) !== 0)) {
          this.messages.push(
            `ERROR compressed cluster ${i} with non-zero subcluster allocation bitmap, entry=0x${be64n(table, at).toString(16)}`,
          );
          this.corruptions++;
        }
        const d = compressedDescriptor(h, hi, lo);
        this.reference(d.hostOffset, d.length);
        if (active) {
          this.allocated++;
          this.compressed++;
          this.fragmented++;
        }
        continue;
      }
      const offset = entryOffset(hi, lo);
      if (offset === 0 && !(this.layer.hasDataFile && (hi & OFLAG_COPIED_HI) !== 0)) continue;
      if ((hi & L2_STD_RESERVED_HI) !== 0 || (lo & L2_STD_RESERVED_LO) !== 0) {
        this.messages.push(`ERROR found l2 entry with reserved bits set: ${be64n(table, at).toString(16)}`);
        this.corruptions++;
      }
      if (active) {
        this.allocated++;
        if (this.nextContiguous && offset !== this.nextContiguous) this.fragmented++;
        this.nextContiguous = offset + this.cs;
      }
      if (offset % this.cs !== 0) {
        this.messages.push(`ERROR offset=${offset.toString(16)}: Cluster is not properly aligned; L2 entry corrupted.`);
        this.corruptions++;
        continue;
      }
      if (!this.layer.hasDataFile) this.reference(offset, this.cs);
    }
  }

  /** check_refblocks: each refblock is referenced once, and must lie in the file. */
  private referenceRefblocks(reftable: DataView): number[] {
    const offsets: number[] = [];
    for (let i = 0; i < reftable.byteLength / 8; i++) {
      const offset = entryOffset(reftable.getUint32(i * 8), reftable.getUint32(i * 8 + 4) & ~0x1ff);
      offsets.push(offset);
      if (offset === 0) continue;
      if (offset % this.cs !== 0) {
        this.messages.push(`ERROR refcount block ${i} is not cluster aligned; refcount table entry corrupted`);
        this.corruptions++;
        offsets[i] = 0;
        continue;
      }
      if (offset >= Math.ceil(this.fileLength / this.cs) * this.cs) {
        this.messages.push(`ERROR refcount block ${i} is outside image`);
        this.corruptions++;
        offsets[i] = 0;
        continue;
      }
      this.reference(offset, this.cs);
    }
    return offsets;
  }

  private refblockCache = new Map<number, Uint8Array>();

  /** The refcount the file stores for cluster `index`. */
  private async storedRefcount(reftable: number[], index: number): Promise<number> {
    const bits = 2 ** this.h.refcountOrder;
    const perBlock = (this.cs * 8) / bits;
    const tableIndex = Math.floor(index / perBlock);
    const blockOffset = reftable[tableIndex] ?? 0;
    if (!blockOffset) return 0;
    let block = this.refblockCache.get(tableIndex);
    if (!block) {
      block = await this.read(blockOffset, this.cs);
      this.refblockCache.clear();
      this.refblockCache.set(tableIndex, block);
    }
    const slot = index % perBlock;
    if (bits < 8) return (block[Math.floor((slot * bits) / 8)] >> ((slot * bits) % 8)) & ((1 << bits) - 1);
    const v = view(block);
    if (bits === 8) return block[slot];
    if (bits === 16) return v.getUint16(slot * 2);
    if (bits === 32) return v.getUint32(slot * 4);
    return be64(v, slot * 8);
  }

  /** compare_refcounts: returns the highest cluster with a refcount or a reference. */
  private async compareRefcounts(refblocks: number[]): Promise<number> {
    // Like QEMU, only clusters inside the file are compared: references past its end were
    // already reported as corruptions.
    const end = Math.ceil(this.fileLength / this.cs);
    let highest = 0;
    for (let i = 0; i < end; i++) {
      const stored = await this.storedRefcount(refblocks, i);
      const computed = this.refs.counts[i] ?? 0;
      if (stored > 0 || computed > 0) highest = i;
      if (stored === computed) continue;
      if (stored > computed) {
        this.leakedClusters.push({ cluster: i, refcount: stored, reference: computed });
        this.messages.push(`Leaked cluster ${i} refcount=${stored} reference=${computed}`);
        this.leaks++;
      } else {
        this.messages.push(`ERROR cluster ${i} refcount=${stored} reference=${computed}`);
        this.corruptions++;
      }
    }
    return highest;
  }

  /** check_oflag_copied: in the active tables, COPIED must be set exactly where the refcount is 1. */
  private async checkCopiedFlags(refblocks: number[]): Promise<void> {
    const l1 = view(await this.read(this.h.l1TableOffset, this.h.l1Size * 8));
    for (let i = 0; i < this.h.l1Size; i++) {
      const hi = l1.getUint32(i * 8);
      const lo = l1.getUint32(i * 8 + 4);
      const l2Offset = entryOffset(hi, lo);
      if (l2Offset === 0 || l2Offset % this.cs !== 0) continue;
      const refcount = await this.storedRefcount(refblocks, l2Offset / this.cs);
      if ((refcount === 1) !== ((hi & OFLAG_COPIED_HI) !== 0)) {
        this.messages.push(`ERROR OFLAG_COPIED L2 cluster: l1_index=${i} l1_entry=${be64n(l1, i * 8).toString(16)} refcount=${refcount}`);
        this.corruptions++;
      }
      const table = view(await this.read(l2Offset, this.cs));
      for (let j = 0; j < this.h.l2Entries; j++) {
        const at = j * this.h.l2EntryBytes;
        const ehi = table.getUint32(at);
        const elo = table.getUint32(at + 4);
        if ((ehi & OFLAG_COMPRESSED_HI) !== 0) continue;
        const offset = entryOffset(ehi, elo);
        if (offset === 0 || offset % this.cs !== 0 || this.layer.hasDataFile) continue;
        const dataRefcount = await this.storedRefcount(refblocks, offset / this.cs);
        if ((dataRefcount === 1) !== ((ehi & OFLAG_COPIED_HI) !== 0)) {
          this.messages.push(`ERROR OFLAG_COPIED data cluster: l2_entry=${be64n(table, at).toString(16)} refcount=${dataRefcount}`);
          this.corruptions++;
        }
      }
    }
  }
}
