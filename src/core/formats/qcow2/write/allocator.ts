/**
 * Host cluster allocation and refcounts for a qcow2 file being written, behaving as QEMU's
 * qcow2-refcount.c does (alloc_clusters_noref, update_refcount, alloc_refcount_block,
 * qcow2_refcount_area, qcow2_alloc_bytes): same placement of every cluster, refblock and
 * reftable, so that the file we write is laid out like the one qemu-img writes.
 *
 * Refcounts live in memory one refblock at a time (pages of 32-bit counts: 4 bytes per host
 * cluster), written out by the caller at the end.
 */

const AGAIN = Symbol('again');
type Again = typeof AGAIN;

export interface AllocatorEvents {
  /** The reftable moved: the old one (its last on-disk content) stays in the file unless reused. */
  onReftableMoved?(oldOffset: number, oldClusters: number, oldEntries: readonly number[]): void;
}

export class HostAllocator {
  readonly clusterSize: number;
  readonly refcountBits: number;
  readonly refcountMax: number;
  /** Refcount entries per refblock. */
  readonly refblockEntries: number;
  /** refblock index → that refblock's refcounts. */
  private readonly pages = new Map<number, Uint32Array>();
  /** Refblock host offsets (0: none), as the reftable holds them. */
  reftable: number[];
  reftableOffset: number;
  reftableClusters: number;
  private freeClusterIndex = 0;
  private freeByteOffset = 0;
  /** Highest cluster index ever given a refcount, + 1. */
  private end = 0;

  constructor(
    readonly clusterBits: number,
    refcountOrder: number,
    reftableOffset: number,
    reftableClusters: number,
    private readonly events: AllocatorEvents = {},
  ) {
    this.clusterSize = 2 ** clusterBits;
    this.refcountBits = 2 ** refcountOrder;
    this.refcountMax = 2 ** this.refcountBits - 1;
    this.refblockEntries = (this.clusterSize * 8) / this.refcountBits;
    this.reftableOffset = reftableOffset;
    this.reftableClusters = reftableClusters;
    this.reftable = new Array<number>(this.reftableSize).fill(0);
  }

  get reftableSize(): number {
    return (this.reftableClusters * this.clusterSize) / 8;
  }

  /** One past the last cluster with a non-zero refcount. */
  get endCluster(): number {
    return this.end;
  }

  /** Installs refblock `index` at `offset` directly (image creation writes the first one by hand). */
  installRefblock(index: number, offset: number): void {
    this.reftable[index] = offset;
    this.page(index);
  }

  getRefcount(clusterIndex: number): number {
    const tableIndex = Math.floor(clusterIndex / this.refblockEntries);
    if (tableIndex >= this.reftable.length || this.reftable[tableIndex] === 0) return 0;
    return this.page(tableIndex)[clusterIndex % this.refblockEntries];
  }

  /** The refcounts of refblock `index` (all zero when it has none yet). */
  refblock(index: number): Uint32Array {
    return this.page(index);
  }

  private page(index: number): Uint32Array {
    let page = this.pages.get(index);
    if (!page) {
      page = new Uint32Array(this.refblockEntries);
      this.pages.set(index, page);
    }
    return page;
  }

  private setRefcount(clusterIndex: number, value: number): void {
    this.page(Math.floor(clusterIndex / this.refblockEntries))[clusterIndex % this.refblockEntries] = value;
    if (value > 0 && clusterIndex >= this.end) this.end = clusterIndex + 1;
  }

  private allocClustersNoref(size: number): number {
    const count = Math.ceil(size / this.clusterSize);
    for (;;) {
      let ok = true;
      for (let i = 0; i < count; i++) {
        const index = this.freeClusterIndex++;
        if (this.getRefcount(index) !== 0) {
          ok = false;
          break;
        }
      }
      if (ok) return (this.freeClusterIndex - count) * this.clusterSize;
    }
  }

  /** qcow2_alloc_clusters: `size` bytes of whole clusters, refcount 1 each. */
  allocClusters(size: number): number {
    for (;;) {
      const offset = this.allocClustersNoref(size);
      if (this.updateRefcount(offset, size, 1) !== AGAIN) return offset;
    }
  }

  freeClusters(offset: number, size: number): void {
    this.updateRefcount(offset, size, -1);
  }

  /** qcow2_alloc_bytes: `size` bytes for a compressed cluster, packed after the previous one. */
  allocBytes(size: number): number {
    let offset = this.freeByteOffset;
    if (offset && this.getRefcount(Math.floor(offset / this.clusterSize)) === this.refcountMax) offset = 0;
    let freeInCluster = this.clusterSize - (offset % this.clusterSize);
    for (;;) {
      if (!offset || freeInCluster < size) {
        const newCluster = this.allocClustersNoref(this.clusterSize);
        if (!offset || Math.ceil(offset / this.clusterSize) * this.clusterSize !== newCluster) {
          offset = newCluster;
          freeInCluster = this.clusterSize;
        } else {
          freeInCluster += this.clusterSize;
        }
      }
      if (this.updateRefcount(offset, size, 1) !== AGAIN) break;
    }
    this.freeByteOffset = (offset + size) % this.clusterSize === 0 ? 0 : offset + size;
    return offset;
  }

  private updateRefcount(offset: number, length: number, addend: number): Again | void {
    if (length === 0) return;
    const first = Math.floor(offset / this.clusterSize);
    const last = Math.floor((offset + length - 1) / this.clusterSize);
    let previousTable = -1;
    for (let index = first; index <= last; index++) {
      const tableIndex = Math.floor(index / this.refblockEntries);
      if (tableIndex !== previousTable) {
        if (this.allocRefcountBlock(index) === AGAIN) {
          // The caller restarts its search for free clusters, trying the same ones first.
          if (this.freeClusterIndex > first) this.freeClusterIndex = first;
          for (let undo = first; undo < index; undo++) this.changeRefcount(undo, -addend);
          return AGAIN;
        }
      }
      previousTable = tableIndex;
      this.changeRefcount(index, addend);
    }
  }

  private changeRefcount(index: number, addend: number): void {
    const value = this.getRefcount(index) + addend;
    if (value < 0 || value > Math.min(this.refcountMax, 0xffffffff)) throw new Error(`refcount of cluster ${index} would be ${value}`);
    if (value === 0 && index < this.freeClusterIndex) this.freeClusterIndex = index;
    this.setRefcount(index, value);
  }

  private allocRefcountBlock(clusterIndex: number): Again | void {
    const tableIndex = Math.floor(clusterIndex / this.refblockEntries);
    if (tableIndex < this.reftable.length && this.reftable[tableIndex] !== 0) return;
    const newBlock = this.allocClustersNoref(this.clusterSize);
    const newIndex = newBlock / this.clusterSize;
    if (Math.floor(newIndex / this.refblockEntries) === tableIndex) {
      // The block describes itself.
      this.page(tableIndex).fill(0);
      this.setRefcount(newIndex, 1);
    } else {
      // Described by another refblock; allocating that one may itself restart the search.
      if (this.updateRefcount(newBlock, this.clusterSize, 1) === AGAIN) return AGAIN;
      this.page(tableIndex).fill(0);
    }
    if (tableIndex < this.reftable.length) {
      this.reftable[tableIndex] = newBlock;
      return AGAIN;
    }
    const blocksUsed = Math.ceil(Math.max(clusterIndex + 1, newIndex + 1) / this.refblockEntries);
    this.refcountArea(blocksUsed * this.refblockEntries * this.clusterSize, tableIndex, newBlock);
    return AGAIN;
  }

  /**
   * qcow2_refcount_area: a new, larger reftable and the refblocks that cover it, placed at
   * `start` (past everything in use), describing themselves; then the old table is freed.
   */
  private refcountArea(start: number, newRefblockIndex: number, newRefblockOffset: number): void {
    const cs = this.clusterSize;
    const totalRefblocks = refcountMetadataRefblocks(start / cs, cs, this.refcountBits, true);
    const areaIndex = Math.floor(start / cs / this.refblockEntries);
    const entriesPerCluster = cs / 8;
    let tableSize = totalRefblocks + Math.ceil(totalRefblocks / 2);
    tableSize = Math.ceil(tableSize / entriesPerCluster) * entriesPerCluster;
    const tableClusters = (tableSize * 8) / cs;
    const table = new Array<number>(tableSize).fill(0);
    for (let i = 0; i < Math.min(tableSize, this.reftable.length); i++) table[i] = this.reftable[i];
    if (newRefblockOffset) table[newRefblockIndex] = newRefblockOffset;
    let additional = 0;
    for (let i = areaIndex; i < totalRefblocks; i++) if (!table[i]) additional++;
    const tableOffset = start + additional * cs;
    const endOffset = tableOffset + tableClusters * cs;
    let blockOffset = start;
    for (let i = areaIndex; i < totalRefblocks; i++) {
      if (!table[i]) {
        table[i] = blockOffset;
        this.page(i).fill(0);
        blockOffset += cs;
      }
      const firstCovered = i * this.refblockEntries * cs;
      if (firstCovered < endOffset) {
        let j = firstCovered < start ? (start - firstCovered) / cs : 0;
        const endIndex = Math.min((endOffset - firstCovered) / cs, this.refblockEntries);
        for (; j < endIndex; j++) this.setRefcount(i * this.refblockEntries + j, 1);
      }
    }
    const oldOffset = this.reftableOffset;
    const oldClusters = this.reftableClusters;
    this.events.onReftableMoved?.(oldOffset, oldClusters, this.reftable.slice());
    this.reftable = table;
    this.reftableOffset = tableOffset;
    this.reftableClusters = tableClusters;
    this.freeClusters(oldOffset, oldClusters * cs);
  }
}

/**
 * qcow2_refcount_metadata_size: how many refblocks cover `clusters` plus the refcount metadata
 * itself (a fixed point), with the generous 50 % increase QEMU adds when growing.
 */
export function refcountMetadataRefblocks(clusters: number, clusterSize: number, refcountBits: number, generous: boolean): number {
  const blocksPerTableCluster = clusterSize / 8;
  const refcountsPerBlock = (clusterSize * 8) / refcountBits;
  let table = 0;
  let blocks = 0;
  let n = 0;
  let last: number;
  do {
    last = n;
    blocks = Math.ceil((clusters + table + blocks) / refcountsPerBlock);
    table = Math.ceil(blocks / blocksPerTableCluster);
    n = clusters + blocks + table;
    if (n === last && generous) {
      clusters += Math.ceil(table / 2);
      n = 0;
      generous = false;
    }
  } while (n !== last);
  return blocks;
}
