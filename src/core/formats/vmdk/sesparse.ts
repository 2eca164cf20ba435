/**
 * ESXi's seSparse extent (space-efficient sparse, vSphere 6.5+), read as QEMU's
 * vmdk_open_se_sparse reads it: a const header checked strictly (the format is not documented),
 * a volatile header, 64-bit grain directory and grain table entries, 4 KiB grains.
 *
 * Const header, little-endian u64s: 0 magic 0xcafebabe, 8 version 0x200000001, 16 capacity,
 * 24 grain size (8 sectors), 32 grain table size (64 sectors), 40 flags, 48–79 reserved,
 * 80 volatile header offset, 128 grain directory offset, 136 its size (sectors),
 * 144 grain tables offset, 192 grains offset (all in sectors), 208–511 zero.
 */
import { DiskImgError } from '../../errors.ts';
import type { Storage } from '../../storage/storage.ts';
import { L2Cache } from '../qcow2/l2-cache.ts';
import type { GrainStatus } from './extent.ts';

const CONST_MAGIC = 0xcafebabe;
const VOLATILE_MAGIC = 0xcafecafe;
const GRAIN_SECTORS = 8;
const TABLE_ENTRIES = 4096;
const MAX_GD_ENTRIES = 32 * 1024 * 1024;

const hex16 = (hi: number, lo: number) => `0x${hi.toString(16).padStart(8, '0')}${lo.toString(16).padStart(8, '0')}`;

export class SeSparseExtent {
  readonly flat = false;
  readonly compressed = false;
  readonly hasMarker = false;
  readonly grainBytes = GRAIN_SECTORS * 512;
  readonly tableCoverage = TABLE_ENTRIES * GRAIN_SECTORS * 512;
  private readonly cache: L2Cache;

  private constructor(
    readonly storage: Storage,
    readonly ownsStorage: boolean,
    readonly start: number,
    readonly type: string,
    readonly length: number,
    readonly gdEntries: number,
    private readonly gd: DataView,
    /** Sectors. */
    private readonly tablesOffset: number,
    private readonly grainsOffset: number,
  ) {
    this.cache = new L2Cache(storage, TABLE_ENTRIES * 8, 1024 * 1024);
  }

  static async open(storage: Storage, ownsStorage: boolean, start: number, type: string): Promise<SeSparseExtent> {
    const file = storage.name;
    const head = await storage.read(0, 512);
    const v = new DataView(head.buffer, head.byteOffset, 512);
    const lo = (at: number) => v.getUint32(at, true);
    const hi = (at: number) => v.getUint32(at + 4, true);
    const u64 = (at: number) => hi(at) * 0x1_0000_0000 + lo(at);
    const fail = (kind: 'invalid-format' | 'unsupported', message: string, field: string, offset: number): never => {
      throw new DiskImgError(kind, message, { file, field, offset });
    };
    if (lo(0) !== CONST_MAGIC || hi(0) !== 0) fail('invalid-format', `Bad const header magic: ${hex16(hi(0), lo(0))}`, 'magic', 0);
    if (lo(8) !== 1 || hi(8) !== 2) fail('unsupported', `Unsupported version: ${hex16(hi(8), lo(8))}`, 'version', 8);
    if (u64(24) !== GRAIN_SECTORS) fail('unsupported', `Unsupported grain size: ${u64(24)}`, 'grain_size', 24);
    if (u64(32) !== 64) fail('unsupported', `Unsupported grain table size: ${u64(32)}`, 'grain_table_size', 32);
    if (lo(40) !== 0 || hi(40) !== 0) fail('unsupported', `Unsupported flags: ${hex16(hi(40), lo(40))}`, 'flags', 40);
    if ([48, 56, 64, 72].some((at) => lo(at) !== 0 || hi(at) !== 0)) {
      fail('unsupported', `Unsupported reserved bits: ${[48, 56, 64, 72].map((at) => hex16(hi(at), lo(at))).join(' ')}`, 'reserved', 48);
    }
    if (head.subarray(208).some((b) => b !== 0)) fail('unsupported', 'Unsupported non-zero const header padding', 'pad', 208);
    const volatileAt = u64(80) * 512;
    const vol = await storage.read(Number.isSafeInteger(volatileAt) && volatileAt < storage.size ? volatileAt : storage.size, 512);
    const w = new DataView(vol.buffer, vol.byteOffset, 512);
    if (w.getUint32(0, true) !== VOLATILE_MAGIC || w.getUint32(4, true) !== 0)
      fail(
        'invalid-format',
        `Bad volatile header magic: ${hex16(w.getUint32(4, true), w.getUint32(0, true))}`,
        'volatile header magic',
        volatileAt,
      );
    if (w.getUint32(24, true) !== 0 || w.getUint32(28, true) !== 0)
      fail('unsupported', 'Image is dirty, Replaying journal not supported', 'replay_journal', volatileAt + 24);
    if (vol.subarray(32).some((b) => b !== 0))
      fail('unsupported', 'Unsupported non-zero volatile header padding', 'volatile header pad', volatileAt + 32);
    const capacity = u64(16);
    const gdEntries = (u64(136) * 512) / 8;
    if (gdEntries > MAX_GD_ENTRIES)
      throw new DiskImgError('limit', 'L1 size too big', { file, field: 'grain_dir_size', offset: 136, value: gdEntries });
    if (!Number.isSafeInteger(capacity * 512))
      throw new DiskImgError('limit', `seSparse capacity of ${capacity} sectors is too large`, {
        file,
        field: 'capacity',
        offset: 16,
        value: capacity,
      });
    const gdAt = u64(128) * 512;
    const inFile = Number.isSafeInteger(gdAt) ? Math.max(0, Math.min(gdEntries * 8, storage.size - gdAt)) : 0;
    const gdBytes = inFile > 0 ? await storage.read(gdAt, inFile) : new Uint8Array(0);
    const gd = new DataView(gdBytes.buffer, gdBytes.byteOffset, gdBytes.byteLength);
    return new SeSparseExtent(storage, ownsStorage, start, type, capacity * 512, gdEntries, gd, u64(144), u64(192));
  }

  /** Nonzero when grain directory entry `index` names a grain table (grain() checks it). */
  gdEntry(index: number): number {
    if (index * 8 + 8 > this.gd.byteLength) return 0;
    return this.gd.getUint32(index * 8, true) | this.gd.getUint32(index * 8 + 4, true);
  }

  private corrupt(what: string): never {
    throw new DiskImgError('corrupt', `seSparse: ${what}`, { file: this.storage.name, field: 'grain entry' });
  }

  async grain(offset: number): Promise<GrainStatus> {
    const index = Math.floor(offset / this.tableCoverage);
    if (index >= this.gdEntries) this.corrupt(`no grain directory entry for extent offset ${offset}`);
    if (index * 8 + 8 > this.gd.byteLength) return { kind: 'unallocated' };
    const gdLo = this.gd.getUint32(index * 8, true);
    const gdHi = this.gd.getUint32(index * 8 + 4, true);
    if (gdLo === 0 && gdHi === 0) return { kind: 'unallocated' };
    if (gdHi !== 0x10000000) this.corrupt(`grain directory entry ${index} is ${hex16(gdHi, gdLo)}`);
    const tableSector = this.tablesOffset + gdLo * 64;
    if (tableSector > 0xffffffff) this.corrupt(`grain table ${gdLo} lies past sector 2^32`);
    const table = await this.cache.get(tableSector * 512);
    const t = new DataView(table.buffer, table.byteOffset, table.byteLength);
    const at = (Math.floor(offset / this.grainBytes) % TABLE_ENTRIES) * 8;
    const lo = t.getUint32(at, true);
    const hi = t.getUint32(at + 4, true);
    switch (hi >>> 28) {
      case 0:
        if (lo !== 0 || hi !== 0) this.corrupt(`grain table entry ${hex16(hi, lo)} is invalid`);
        return { kind: 'unallocated' };
      case 1: // unmapped (SCSI UNMAP)
      case 2:
        return { kind: 'zero' };
      case 3: {
        const cluster = ((hi >>> 16) & 0xfff) + ((hi & 0xffff) * 0x1_0000_0000 + lo) * 4096;
        const hostOffset = (this.grainsOffset + cluster * GRAIN_SECTORS) * 512;
        if (!Number.isSafeInteger(hostOffset)) this.corrupt(`grain table entry ${hex16(hi, lo)} points past any file`);
        return { kind: 'data', hostOffset };
      }
      default:
        return this.corrupt(`grain table entry ${hex16(hi, lo)} is invalid`);
    }
  }
}
