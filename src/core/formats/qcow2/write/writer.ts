/**
 * Writes a new qcow2 file the way QEMU builds one: qcow2_co_create (header, reftable, first
 * refblock, L1), then guest writes in guest order, each allocating its L2 table and data clusters
 * through the same allocator, then the metadata flushed on close. Writes must come in guest order
 * (as qemu-img convert issues them): an L2 table is written out once writes have moved past it.
 */
import { DiskImgError } from '../../../errors.ts';
import type { Sink } from '../../../sink.ts';
import type { CompressionType } from '../header.ts';
import { HostAllocator } from './allocator.ts';
import { buildHeaderCluster, type HeaderFields } from './header-writer.ts';
import type { WriterEncryption } from '../encryption.ts';
import type { GuestWriter } from '../../output/guest-writer.ts';

export interface Qcow2WriteOptions {
  clusterSize: number;
  /** '1.1' (version 3, the default) or '0.10' (version 2). */
  compat: '0.10' | '1.1';
  refcountBits: number;
  compressionType: CompressionType;
  lazyRefcounts: boolean;
  /** 'metadata': every L2 table and data cluster is allocated up front, as qemu-img does. */
  preallocation?: 'off' | 'metadata';
  /**
   * Planning only: guest data is not written (only accounted for in the file's length), so that
   * a first pass can work out the whole layout for a sink that can only append.
   */
  skipData?: boolean;
  backingFile?: string;
  backingFormat?: string;
  /** Encrypt the image with LUKS (prepareEncryption makes this; one per output file). */
  encryption?: WriterEncryption;
}

export const DEFAULT_WRITE_OPTIONS: Qcow2WriteOptions = {
  clusterSize: 65536,
  compat: '1.1',
  refcountBits: 16,
  compressionType: 'zlib',
  lazyRefcounts: false,
};

const COPIED = 1n << 63n;
const COMPRESSED = 1n << 62n;

/** A write to the file: host offset and bytes. */
type HostWrite = [number, Uint8Array];

interface L2Table {
  offset: number;
  entries: BigUint64Array;
}

export class Qcow2Writer implements GuestWriter {
  readonly clusterSize: number;
  readonly clusterBits: number;
  readonly l2Entries: number;
  readonly l2Coverage: number;
  readonly l1Size: number;
  private readonly allocator: HostAllocator;
  private readonly l1: BigUint64Array;
  private l1Offset = 0;
  /** L2 tables not yet written out, by L1 index. */
  private readonly pendingL2 = new Map<number, L2Table>();
  /** L1 indexes below this have been written out and must not be touched again. */
  private flushedBelow = 0;
  /** One past the highest byte written (the file's length as QEMU leaves it). */
  private fileEnd = 0;
  /** With preallocation, the file's length reaches past what was written (the rest are holes). */
  private preallocatedEnd = 0;
  private compressedWrites = false;
  /** Where the LUKS header region went (right after the L1 table, as qcow2_co_create puts it). */
  private cryptoRegion?: { offset: number; length: number };

  private constructor(
    private readonly sink: Sink,
    readonly virtualSize: number,
    readonly options: Qcow2WriteOptions,
  ) {
    this.clusterSize = options.clusterSize;
    this.clusterBits = Math.log2(options.clusterSize);
    this.l2Entries = this.clusterSize / 8;
    this.l2Coverage = this.l2Entries * this.clusterSize;
    this.l1Size = Math.ceil(virtualSize / this.l2Coverage);
    this.l1 = new BigUint64Array(this.l1Size);
    this.allocator = new HostAllocator(this.clusterBits, Math.log2(options.refcountBits), this.clusterSize, 1, {
      // The old reftable keeps its last content on disk unless something reuses its clusters.
      onReftableMoved: (offset, clusters, entries) =>
        void this.pendingWrites.push(this.sink.write(offset, encodeTable(entries, clusters * this.clusterSize))),
    });
  }

  private readonly pendingWrites: Promise<void>[] = [];

  /** qcow2_co_create followed by the truncate to the virtual size. */
  static async create(sink: Sink, virtualSize: number, options: Qcow2WriteOptions = DEFAULT_WRITE_OPTIONS): Promise<Qcow2Writer> {
    validateOptions(virtualSize, options);
    const writer = new Qcow2Writer(sink, virtualSize, options);
    await writer.initialise();
    return writer;
  }

  private async initialise(): Promise<void> {
    const cs = this.clusterSize;
    // Header, reftable and first refblock, then their refcounts through the normal allocator.
    this.allocator.installRefblock(0, 2 * cs);
    this.allocator.allocClusters(3 * cs);
    await this.writeHost(0, this.headerCluster());
    await this.writeHost(cs, new Uint8Array(2 * cs));
    if (this.l1Size > 0) {
      this.l1Offset = this.allocator.allocClusters(Math.ceil((this.l1Size * 8) / 512) * 512);
      await this.writeHost(this.l1Offset, new Uint8Array(this.l1Size * 8));
    }
    const encryption = this.options.encryption;
    if (encryption) {
      // qcow2_crypto_hdr_init_func: whole clusters, zeroed, then the header and key material.
      const length = encryption.region.length;
      const clusters = Math.ceil(length / cs) * cs;
      const offset = this.allocator.allocClusters(clusters);
      this.cryptoRegion = { offset, length };
      const bytes = new Uint8Array(clusters);
      bytes.set(encryption.region);
      await this.writeHost(offset, bytes);
    }
    if (this.options.preallocation === 'metadata') this.preallocate();
  }

  /** preallocate_co: per L2 table, the table, then all its data clusters in one run. */
  private preallocate(): void {
    const cs = this.clusterSize;
    const clusters = Math.ceil(this.virtualSize / cs);
    for (let l1Index = 0; l1Index < this.l1Size; l1Index++) {
      const offset = this.allocator.allocClusters(cs);
      const table: L2Table = { offset, entries: new BigUint64Array(this.l2Entries) };
      this.l1[l1Index] = BigInt(offset) | COPIED;
      this.pendingL2.set(l1Index, table);
      const first = l1Index * this.l2Entries;
      const count = Math.min(this.l2Entries, clusters - first);
      const host = this.allocator.allocClusters(count * cs);
      for (let i = 0; i < count; i++) table.entries[i] = BigInt(host + i * cs) | COPIED;
      this.preallocatedEnd = Math.max(this.preallocatedEnd, host + count * cs);
    }
  }

  private headerFields(): HeaderFields {
    return {
      version: this.options.compat === '0.10' ? 2 : 3,
      clusterBits: this.clusterBits,
      virtualSize: this.virtualSize,
      l1Size: this.l1Size,
      l1TableOffset: this.l1Offset,
      refcountTableOffset: this.allocator.reftableOffset,
      refcountTableClusters: this.allocator.reftableClusters,
      refcountOrder: Math.log2(this.options.refcountBits),
      compressionType: this.options.compressionType,
      lazyRefcounts: this.options.lazyRefcounts,
      extendedL2: false,
      backingFile: this.options.backingFile,
      backingFormat: this.options.backingFormat,
      cryptoHeader: this.cryptoRegion,
    };
  }

  private headerCluster(): Uint8Array {
    return buildHeaderCluster(this.headerFields());
  }

  /**
   * A data write, queued in `io`: skipped when planning, but it still makes the file as long. With
   * encryption the bytes are enciphered (in a copy: the caller's buffer is the guest's) with the
   * host sector as the IV's sector number, as QEMU does for LUKS.
   */
  private queueGuestData(io: HostWrite[], offset: number, bytes: Uint8Array): void {
    if (this.options.skipData) this.fileEnd = Math.max(this.fileEnd, offset + bytes.length);
    else if (this.options.encryption) io.push([offset, encryptAt(this.options.encryption, offset, bytes)]);
    else io.push([offset, bytes]);
  }

  private async writeHost(offset: number, bytes: Uint8Array): Promise<void> {
    this.fileEnd = Math.max(this.fileEnd, offset + bytes.length);
    // An old reftable's write (queued by the allocator) must land before anything reuses its clusters.
    while (this.pendingWrites.length > 0) await this.pendingWrites.shift();
    await this.sink.write(offset, bytes);
  }

  /**
   * Writes what one guest write came to: all at once where the sink takes several writes in flight
   * (it keeps overlapping ones in order), else one after the other.
   */
  private async issue(io: HostWrite[]): Promise<void> {
    if (this.sink.concurrent) await Promise.all(io.map(([offset, bytes]) => this.writeHost(offset, bytes)));
    else for (const [offset, bytes] of io) await this.writeHost(offset, bytes);
  }

  /**
   * Several guest writes may be in flight when the sink allows it: each takes its clusters and
   * queues its writes before its first await, so the layout follows the order of the calls.
   */
  get concurrent(): boolean {
    return this.sink.concurrent === true;
  }

  /** The L2 table for L1 index `index`, allocated on first use (l2_allocate); older tables go out in `io`. */
  private table(index: number, io: HostWrite[]): L2Table {
    if (index < this.flushedBelow) {
      throw new DiskImgError('usage', `qcow2 writes must come in guest order (L2 table ${index} is already written)`, { value: index });
    }
    for (const [pending, table] of this.pendingL2) {
      if (pending < index) {
        io.push([table.offset, encodeEntries(table.entries)]);
        this.pendingL2.delete(pending);
      }
    }
    this.flushedBelow = index;
    let table = this.pendingL2.get(index);
    if (!table) {
      const offset = this.allocator.allocClusters(this.clusterSize);
      table = { offset, entries: new BigUint64Array(this.l2Entries) };
      this.l1[index] = BigInt(offset) | COPIED;
      this.pendingL2.set(index, table);
    }
    return table;
  }

  /**
   * A guest write of uncompressed bytes at any offset and length (qcow2_co_pwritev): clusters not
   * yet allocated are allocated in runs, per L2 table; the parts of a new cluster the write does
   * not cover are zeroed, as QEMU's copy-on-write of an unallocated cluster does. Everything up to
   * the writes themselves happens before the first await (see `concurrent`).
   */
  async writeData(guestOffset: number, bytes: Uint8Array): Promise<void> {
    const cs = this.clusterSize;
    const io: HostWrite[] = [];
    let at = guestOffset;
    const end = guestOffset + bytes.length;
    while (at < end) {
      const l1Index = Math.floor(at / this.l2Coverage);
      const pieceEnd = Math.min(end, (l1Index + 1) * this.l2Coverage);
      const table = this.table(l1Index, io);
      let cluster = Math.floor(at / cs);
      const lastCluster = Math.floor((pieceEnd - 1) / cs);
      while (cluster <= lastCluster) {
        const slot = cluster % this.l2Entries;
        if (table.entries[slot] !== 0n) {
          const host = Number(table.entries[slot] & 0x00fffffffffffe00n);
          const from = Math.max(at, cluster * cs);
          const to = Math.min(pieceEnd, (cluster + 1) * cs);
          this.queueGuestData(io, host + (from - cluster * cs), bytes.subarray(from - guestOffset, to - guestOffset));
          cluster++;
          continue;
        }
        let run = 1;
        while (cluster + run <= lastCluster && table.entries[(cluster + run) % this.l2Entries] === 0n) run++;
        const host = this.allocator.allocClusters(run * cs);
        for (let i = 0; i < run; i++) table.entries[(cluster + i) % this.l2Entries] = BigInt(host + i * cs) | COPIED;
        const runStart = cluster * cs;
        const runEnd = (cluster + run) * cs;
        const from = Math.max(at, runStart);
        const to = Math.min(pieceEnd, runEnd);
        if (from > runStart) this.queueGuestData(io, host, new Uint8Array(from - runStart));
        this.queueGuestData(io, host + (from - runStart), bytes.subarray(from - guestOffset, to - guestOffset));
        if (to < runEnd) this.queueGuestData(io, host + (to - runStart), new Uint8Array(runEnd - to));
        cluster += run;
      }
      at = pieceEnd;
    }
    await this.issue(io);
  }

  /**
   * One whole guest cluster, already compressed (qcow2_co_pwritev_compressed): its bytes are packed
   * right after the previous compressed cluster. `compressed` null means it did not shrink, and
   * the cluster is written as ordinary data instead, as QEMU does.
   */
  async writeCompressedCluster(clusterIndex: number, compressed: Uint8Array | null, raw: Uint8Array): Promise<void> {
    this.compressedWrites = true;
    const cs = this.clusterSize;
    if (compressed === null) {
      await this.writeData(clusterIndex * cs, raw);
      return;
    }
    const io: HostWrite[] = [];
    const table = this.table(Math.floor((clusterIndex * cs) / this.l2Coverage), io);
    const slot = clusterIndex % this.l2Entries;
    if (table.entries[slot] !== 0n) throw new DiskImgError('usage', "Compression can't overwrite anything", { value: clusterIndex });
    const offset = this.allocator.allocBytes(compressed.length);
    const extraSectors = Math.floor((offset + compressed.length - 1) / 512) - Math.floor(offset / 512);
    const shift = BigInt(62 - (this.clusterBits - 8));
    table.entries[slot] = COMPRESSED | (BigInt(extraSectors) << shift) | BigInt(offset);
    this.queueGuestData(io, offset, compressed);
    await this.issue(io);
  }

  write(guestOffset: number, bytes: Uint8Array): Promise<void> {
    return this.writeData(guestOffset, bytes);
  }

  writeCompressed(clusterIndex: number, compressed: Uint8Array | null, raw: Uint8Array): Promise<void> {
    return this.writeCompressedCluster(clusterIndex, compressed, raw);
  }

  /** Writes the remaining L2 tables, the refcounts, the L1 table and the final header. */
  async finish(): Promise<void> {
    for (const table of this.pendingL2.values()) await this.writeHost(table.offset, encodeEntries(table.entries));
    this.pendingL2.clear();
    const a = this.allocator;
    for (let i = 0; i < a.reftable.length; i++) {
      if (a.reftable[i]) await this.writeHost(a.reftable[i], encodeRefcounts(a.refblock(i), a.refcountBits, this.clusterSize));
    }
    await this.writeHost(a.reftableOffset, encodeTable(a.reftable, a.reftableClusters * this.clusterSize));
    if (this.l1Size > 0) await this.writeHost(this.l1Offset, encodeEntries(this.l1));
    await this.writeHost(0, this.headerCluster());
    if (this.preallocatedEnd > this.fileEnd) {
      // The preallocated clusters nobody wrote stay holes, but the file reaches past them.
      if (this.sink.truncate) await this.sink.truncate(this.preallocatedEnd);
      this.fileEnd = this.preallocatedEnd;
    }
    if (this.compressedWrites && this.fileEnd % 512 !== 0) {
      // qemu-img ends a compressed conversion by aligning the file to a sector.
      const padded = Math.ceil(this.fileEnd / 512) * 512;
      await this.writeHost(this.fileEnd, new Uint8Array(padded - this.fileEnd));
    }
  }

  /** Where the L1 table is, for reading the finished layout back (the sequential pass). */
  get l1TableOffset(): number {
    return this.l1Offset;
  }

  /** One past the last byte of the file. */
  get length(): number {
    return this.fileEnd;
  }
}

/** Guest bytes as they are stored at host `offset` of an encrypted image (whole sectors). */
export function encryptAt(encryption: WriterEncryption, offset: number, bytes: Uint8Array): Uint8Array {
  if (offset % 512 !== 0 || bytes.length % 512 !== 0) {
    throw new DiskImgError('usage', `Encrypted writes must cover whole 512-byte sectors (offset ${offset}, length ${bytes.length})`, {
      offset,
    });
  }
  const out = bytes.slice();
  encryption.cipher.encrypt(out, offset / 512);
  return out;
}

function encodeEntries(entries: BigUint64Array): Uint8Array {
  const out = new Uint8Array(entries.length * 8);
  const v = new DataView(out.buffer);
  for (let i = 0; i < entries.length; i++) if (entries[i]) v.setBigUint64(i * 8, entries[i]);
  return out;
}

function encodeTable(entries: readonly number[], bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  const v = new DataView(out.buffer);
  for (let i = 0; i < entries.length && i * 8 < bytes; i++) if (entries[i]) v.setBigUint64(i * 8, BigInt(entries[i]));
  return out;
}

/** A refblock: `bits`-wide counts, big-endian when ≥ 8 bits, least significant bits first below. */
export function encodeRefcounts(counts: Uint32Array, bits: number, clusterSize: number): Uint8Array {
  const out = new Uint8Array(clusterSize);
  const v = new DataView(out.buffer);
  for (let i = 0; i < counts.length; i++) {
    const value = counts[i];
    if (value === 0) continue;
    if (bits >= 8) {
      const bytes = bits / 8;
      if (bytes === 1) out[i] = value;
      else if (bytes === 2) v.setUint16(i * 2, value);
      else if (bytes === 4) v.setUint32(i * 4, value);
      else v.setBigUint64(i * 8, BigInt(value));
    } else {
      const perByte = 8 / bits;
      out[Math.floor(i / perByte)] |= value << ((i % perByte) * bits);
    }
  }
  return out;
}

/** qemu-img's create-time checks, with its messages. */
export function validateOptions(virtualSize: number, o: Qcow2WriteOptions): void {
  const usage = (message: string, field: string, value: number | string): never => {
    throw new DiskImgError('usage', message, { field, value });
  };
  if (!Number.isInteger(Math.log2(o.clusterSize)) || o.clusterSize < 512 || o.clusterSize > 2 * 1024 * 1024) {
    usage('Cluster size must be a power of two between 512 and 2048k', 'cluster_size', o.clusterSize);
  }
  if (!Number.isInteger(Math.log2(o.refcountBits)) || o.refcountBits > 64)
    usage('Refcount width must be a power of two and may not exceed 64 bits', 'refcount_bits', o.refcountBits);
  if (o.compat === '0.10') {
    if (o.refcountBits !== 16)
      usage(
        'Different refcount widths than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)',
        'refcount_bits',
        o.refcountBits,
      );
    if (o.lazyRefcounts)
      usage('Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)', 'lazy_refcounts', 'on');
    if (o.compressionType !== 'zlib')
      usage(
        'Non-zlib compression type is only supported with compatibility level 1.1 and above (use compat=1.1 or greater)',
        'compression_type',
        o.compressionType,
      );
  }
  const l1Entries = Math.ceil(virtualSize / ((o.clusterSize / 8) * o.clusterSize));
  if (l1Entries * 8 > 32 * 1024 * 1024)
    usage("The image size is too large for file format 'qcow2' (try using a larger cluster size)", 'size', virtualSize);
  if (o.backingFile !== undefined && o.backingFormat === undefined)
    usage('Backing file specified without backing format', 'backing_fmt', '');
  if (o.backingFile !== undefined && o.preallocation === 'metadata')
    usage('Backing file and preallocation can only be used at the same time if extended_l2 is on', 'preallocation', 'metadata');
  if (o.encryption && o.preallocation === 'metadata')
    usage('Encryption and preallocation=metadata are not supported together by diskimg', 'preallocation', 'metadata');
}
