/**
 * One extent of a VMDK disk: a flat run of a file, or a hosted sparse file (grain directory →
 * grain tables → grains), looked up as QEMU's get_cluster_offset looks it up.
 */
import { DiskImgError } from '../../errors.ts';
import type { Storage } from '../../storage/storage.ts';
import { L2Cache } from '../qcow2/l2-cache.ts';
import type { SeSparseExtent } from './sesparse.ts';
import { COMPRESSION_DEFLATE, FLAG_MARKER, FLAG_ZERO_GRAIN, type SparseHeader } from './sparse-header.ts';

/** QEMU refuses grain directories of more entries than this (vmdk_add_extent: "L1 size too big"). */
const MAX_GD_ENTRIES = 32 * 1024 * 1024;

/** What one grain is, as get_cluster_offset answers. */
export type GrainStatus = { kind: 'unallocated' } | { kind: 'zero' } | { kind: 'data'; hostOffset: number };

interface ExtentBase {
  /** The extent's file (the image's own storage for a monolithic file). */
  storage: Storage;
  /** This extent's file was opened for it (and is closed with the layer). */
  ownsStorage: boolean;
  /** Guest byte offset of the extent's first byte. */
  start: number;
  /** Length in bytes (sectors × 512). */
  length: number;
  /** The descriptor's extent type (FLAT, SPARSE, VMFS, …); '' for a monolithic sparse file. */
  type: string;
}

export interface FlatExtent extends ExtentBase {
  flat: true;
  /** Byte offset of the extent's start in its file. */
  flatOffset: number;
}

export class SparseExtent implements ExtentBase {
  readonly flat = false;
  readonly compressed: boolean;
  readonly hasMarker: boolean;
  readonly zeroGrain: boolean;
  readonly grainBytes: number;
  /** Guest bytes one grain table covers. */
  readonly tableCoverage: number;
  readonly gdEntries: number;
  private readonly l2Cache: L2Cache;

  private constructor(
    readonly storage: Storage,
    readonly ownsStorage: boolean,
    readonly start: number,
    readonly type: string,
    readonly header: SparseHeader,
    /** The grain directory as far as it lies in the file; entries past it read as 0. */
    private readonly gd: DataView,
    /** The redundant grain directory, when the header has one (check compares nothing with it). */
    readonly rgd: DataView | undefined,
  ) {
    this.compressed = header.compressAlgorithm === COMPRESSION_DEFLATE;
    this.hasMarker = (header.flags & FLAG_MARKER) !== 0;
    this.zeroGrain = (header.flags & FLAG_ZERO_GRAIN) !== 0;
    this.grainBytes = header.grainSectors * 512;
    this.tableCoverage = header.gtesPerGt * this.grainBytes;
    this.gdEntries = gdEntryCount(header);
    this.l2Cache = new L2Cache(storage, header.gtesPerGt * 4, 1024 * 1024);
  }

  get length(): number {
    return this.header.capacity * 512;
  }

  static async open(storage: Storage, ownsStorage: boolean, start: number, type: string, header: SparseHeader): Promise<SparseExtent> {
    const file = storage.name;
    const entries = gdEntryCount(header);
    if (entries > MAX_GD_ENTRIES)
      throw new DiskImgError('limit', 'L1 size too big', {
        file,
        field: header.gdEntries === undefined ? 'capacity' : 'l1dir_size',
        offset: header.gdEntries === undefined ? 12 : 24,
        value: entries,
      });
    if (!Number.isSafeInteger(header.capacity * 512))
      throw new DiskImgError('limit', `Sparse extent capacity of ${header.capacity} sectors is too large`, {
        file,
        field: 'capacity',
        offset: 12,
        value: header.capacity,
      });
    const gd = await readTable(storage, header.gdOffset, entries * 4);
    const rgd = header.rgdOffset ? await readTable(storage, header.rgdOffset, entries * 4) : undefined;
    return new SparseExtent(storage, ownsStorage, start, type, header, gd, rgd);
  }

  /** The grain table's sector for GD entry `index` (0: none). */
  gdEntry(index: number): number {
    return index * 4 + 4 <= this.gd.byteLength ? this.gd.getUint32(index * 4, true) : 0;
  }

  /** What the grain holding extent-relative byte `offset` is (QEMU's VMDK_UNALLOC, ZEROED, OK). */
  async grain(offset: number): Promise<GrainStatus> {
    const gdIndex = Math.floor(offset / this.tableCoverage);
    if (gdIndex >= this.gdEntries) {
      throw new DiskImgError('corrupt', `VMDK grain directory has no entry for extent offset ${offset} (it has ${this.gdEntries})`, {
        file: this.storage.name,
        field: 'grain directory',
        value: gdIndex,
      });
    }
    const tableSector = this.gdEntry(gdIndex);
    if (tableSector === 0) return { kind: 'unallocated' };
    const table = await this.l2Cache.get(tableSector * 512);
    const index = Math.floor(offset / this.grainBytes) % this.header.gtesPerGt;
    const at = index * 4;
    const entry = table[at] | (table[at + 1] << 8) | (table[at + 2] << 16) | (table[at + 3] * 0x1000000);
    if (entry === 0) return { kind: 'unallocated' };
    if (this.zeroGrain && entry === 1) return { kind: 'zero' };
    return { kind: 'data', hostOffset: entry * 512 };
  }
}

export type VmdkExtent = FlatExtent | SparseExtent | SeSparseExtent;

/** (capacity + sectors per table - 1) / sectors per table, kept to 32 bits as QEMU keeps it. */
function gdEntryCount(header: SparseHeader): number {
  if (header.gdEntries !== undefined) return header.gdEntries;
  const perTable = (header.gtesPerGt * header.grainSectors) % 0x1_0000_0000;
  return Math.ceil(header.capacity / perTable) % 0x1_0000_0000;
}

/**
 * A table of `length` bytes at `offset`, of which only the part inside the file is read and kept
 * (reads past the end are zeros): a header cannot make us allocate more than the file holds.
 */
async function readTable(storage: Storage, offset: number, length: number): Promise<DataView> {
  const inFile = Math.max(0, Math.min(length, storage.size - offset));
  const bytes = inFile > 0 ? await storage.read(offset, inFile) : new Uint8Array(0);
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
