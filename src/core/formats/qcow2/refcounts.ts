/**
 * A qcow2 file's refcounts read and changed in place, one refcount block at a time (memory stays
 * one cluster whatever the image's size), with QEMU's first-fit search for free clusters
 * (qcow2-refcount.c alloc_clusters_noref: the lowest run of clusters whose refcount is 0).
 */
import { DiskImgError } from '../../errors.ts';
import type { WritableStorage } from '../../storage/writable.ts';
import type { Qcow2Header } from './header.ts';

const REFT_OFFSET_MASK = 0xfffffffffffffe00n;

export class Refcounts {
  private readonly bits: number;
  /** Refcounts per refcount block. */
  readonly perBlock: number;
  private cached: { offset: number; bytes: Uint8Array } | undefined;
  /** QEMU's free_cluster_index: where the next search for free clusters starts. */
  private freeIndex = 0;

  private constructor(
    private readonly file: WritableStorage,
    private readonly h: Qcow2Header,
    /** Refblock offsets, as the reftable holds them (0: none). */
    private readonly table: number[],
  ) {
    this.bits = 2 ** h.refcountOrder;
    this.perBlock = (h.clusterSize * 8) / this.bits;
  }

  /** Reads the reftable (at most 8 MiB: QEMU's open-time limit, checked when the image opened). */
  static async load(file: WritableStorage, h: Qcow2Header): Promise<Refcounts> {
    const bytes = await file.read(h.refcountTableOffset, h.refcountTableClusters * h.clusterSize);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const table: number[] = [];
    for (let at = 0; at < bytes.length; at += 8) table.push(Number(view.getBigUint64(at) & REFT_OFFSET_MASK));
    return new Refcounts(file, h, table);
  }

  private async block(cluster: number): Promise<{ offset: number; bytes: Uint8Array } | undefined> {
    const offset = this.table[Math.floor(cluster / this.perBlock)] ?? 0;
    if (offset === 0) return undefined;
    if (this.cached?.offset !== offset) this.cached = { offset, bytes: await this.file.read(offset, this.h.clusterSize) };
    return this.cached;
  }

  async get(cluster: number): Promise<number> {
    const block = await this.block(cluster);
    if (!block) return 0;
    const index = cluster % this.perBlock;
    const b = block.bytes;
    const view = new DataView(b.buffer, b.byteOffset, b.length);
    switch (this.bits) {
      case 64:
        return Number(view.getBigUint64(index * 8));
      case 32:
        return view.getUint32(index * 4);
      case 16:
        return view.getUint16(index * 2);
      case 8:
        return b[index];
      default: {
        // Narrow refcounts pack into bytes from the least significant bit up.
        const perByte = 8 / this.bits;
        return (b[Math.floor(index / perByte)] >> ((index % perByte) * this.bits)) & ((1 << this.bits) - 1);
      }
    }
  }

  /** The refcount block reftable entry `index` names (0: none). */
  blockOffset(index: number): number {
    return this.table[index] ?? 0;
  }

  /** Entries in the reftable. */
  get tableEntries(): number {
    return this.table.length;
  }

  /** How many clusters the reftable can count (entries × refcounts per block). */
  get reach(): number {
    return this.table.length * this.perBlock;
  }

  /** Whether cluster's refcount can be set without a new refcount block. */
  covers(cluster: number): boolean {
    return (this.table[Math.floor(cluster / this.perBlock)] ?? 0) !== 0;
  }

  /** Writes one refcount (only the bytes that hold it). */
  async set(cluster: number, value: number): Promise<void> {
    const block = await this.block(cluster);
    if (!block)
      throw new DiskImgError(
        'unsupported',
        `Cluster ${cluster} has no refcount block: growing the refcount structures is not supported by diskimg yet`,
        { value: cluster },
      );
    const index = cluster % this.perBlock;
    const b = block.bytes;
    const view = new DataView(b.buffer, b.byteOffset, b.length);
    let at: number;
    let length: number;
    switch (this.bits) {
      case 64:
        view.setBigUint64((at = index * 8), BigInt(value));
        length = 8;
        break;
      case 32:
        view.setUint32((at = index * 4), value);
        length = 4;
        break;
      case 16:
        view.setUint16((at = index * 2), value);
        length = 2;
        break;
      case 8:
        b[(at = index)] = value;
        length = 1;
        break;
      default: {
        const perByte = 8 / this.bits;
        const shift = (index % perByte) * this.bits;
        const mask = ((1 << this.bits) - 1) << shift;
        at = Math.floor(index / perByte);
        b[at] = (b[at] & ~mask) | ((value << shift) & mask);
        length = 1;
      }
    }
    await this.file.write(block.offset + at, b.slice(at, at + length));
  }

  /** Adds `delta` to the refcounts of the clusters [first, first + count); `onFreed` hears of each that drops to 0. */
  async add(first: number, count: number, delta: number, onFreed?: (cluster: number) => void): Promise<void> {
    for (let cluster = first; cluster < first + count; cluster++) {
      const value = (await this.get(cluster)) + delta;
      if (value < 0 || value > 2 ** this.bits - 1)
        throw new DiskImgError('corrupt', `Refcount of cluster ${cluster} would become ${value}`, { value: cluster });
      await this.set(cluster, value);
      if (value === 0) {
        if (cluster < this.freeIndex) this.freeIndex = cluster;
        onFreed?.(cluster);
      }
    }
  }

  /** A new refcount block at `block` for reftable entry `index`: written, synced, then named in the reftable. */
  private async hookBlock(index: number, block: number, describesItself: boolean): Promise<void> {
    const cs = this.h.clusterSize;
    const bytes = new Uint8Array(cs);
    if (describesItself) {
      this.table[index] = block * cs;
      this.cached = { offset: block * cs, bytes };
      await this.file.write(block * cs, bytes);
      await this.set(block, 1);
    } else {
      await this.file.write(block * cs, bytes);
      await this.set(block, 1);
      this.table[index] = block * cs;
    }
    await this.file.sync();
    const entry = new Uint8Array(8);
    new DataView(entry.buffer).setBigUint64(0, BigInt(block * cs));
    await this.file.write(this.h.refcountTableOffset + index * 8, entry);
    await this.file.sync();
  }

  /** alloc_clusters_noref: the first run of `count` free clusters from the search cursor on. */
  private async nextFree(count: number): Promise<number> {
    let start = this.freeIndex;
    for (let cluster = start; cluster < start + count; cluster++) {
      if ((await this.get(cluster)) !== 0) start = cluster + 1;
    }
    this.freeIndex = start + count;
    return start;
  }

  /**
   * Where QEMU's qcow2_alloc_clusters puts `count` clusters (their refcounts are the caller's to
   * set, once their contents are written). A run past the last refcount block first gets a new
   * block, as alloc_refcount_block places it — the next free cluster, describing itself — written
   * and hooked into the reftable here; then the search starts again.
   */
  async allocate(count: number): Promise<number> {
    for (;;) {
      const first = await this.nextFree(count);
      const missing = [...Array(count).keys()].map((i) => first + i).find((cluster) => !this.covers(cluster));
      if (missing === undefined) return first;
      const index = Math.floor(missing / this.perBlock);
      if (index >= this.table.length)
        throw new DiskImgError(
          'unsupported',
          `Cluster ${missing} lies past what the refcount table can reach: growing the refcount table is not supported by diskimg yet`,
          { value: missing },
        );
      const block = await this.nextFree(1);
      const blockIndex = Math.floor(block / this.perBlock);
      if (blockIndex === index) {
        // The new block describes itself.
        await this.hookBlock(index, block, true);
      } else if (this.covers(block)) {
        // It is counted by a block that exists.
        await this.hookBlock(index, block, false);
      } else {
        // Its own counter is missing too: QEMU makes that one first (at the next free cluster,
        // describing itself) and starts over; the first new block stays free.
        const describer = await this.nextFree(1);
        if (Math.floor(describer / this.perBlock) !== blockIndex || blockIndex >= this.table.length) {
          throw new DiskImgError(
            'unsupported',
            `A new refcount block at cluster ${describer} would not describe itself: not supported by diskimg yet`,
            { value: describer },
          );
        }
        await this.hookBlock(blockIndex, describer, true);
      }
      // update_refcount, on alloc_refcount_block's -EAGAIN, tries the same clusters first: the
      // search cursor goes back to the run's start (the counts it had made there undone).
      this.freeIndex = Math.min(this.freeIndex, first);
    }
  }

  /**
   * qcow2_shrink_reftable: refcount blocks that count nothing (but, maybe, themselves) leave the
   * reftable — the table rewritten first, then each such block's own refcount dropped. Returns
   * the clusters freed, for the caller to zero.
   */
  async dropUnusedBlocks(): Promise<number[]> {
    const cs = this.h.clusterSize;
    const unused: number[] = [];
    for (let i = 0; i < this.table.length; i++) {
      const offset = this.table[i];
      if (offset === 0) continue;
      const own = Math.floor(offset / cs);
      let empty = true;
      for (let cluster = i * this.perBlock; cluster < (i + 1) * this.perBlock && empty; cluster++) {
        if (cluster !== own && (await this.get(cluster)) !== 0) empty = false;
      }
      if (empty) unused.push(i);
    }
    if (unused.length === 0) return [];
    const bytes = new Uint8Array(this.table.length * 8);
    const view = new DataView(bytes.buffer);
    const kept = new Set(unused);
    for (let i = 0; i < this.table.length; i++) if (!kept.has(i)) view.setBigUint64(i * 8, BigInt(this.table[i]));
    await this.file.write(this.h.refcountTableOffset, bytes);
    await this.file.sync();
    const freed: number[] = [];
    for (const i of unused) {
      await this.add(Math.floor(this.table[i] / cs), 1, -1, (cluster) => freed.push(cluster));
      this.table[i] = 0;
      this.cached = undefined;
    }
    return freed;
  }

  /** The highest cluster with a refcount, or -1 (qcow2_get_last_cluster). */
  async lastUsed(fileClusters: number): Promise<number> {
    for (let cluster = fileClusters - 1; cluster >= 0; cluster--) if ((await this.get(cluster)) !== 0) return cluster;
    return -1;
  }
}
