/**
 * Writes a VHDX as QEMU's vhdx driver does (block/vhdx.c, vhdx-log.c; qemu 7.2). vhdx_co_create
 * lays out the file identifier, two headers, two region tables, the log, the BAT (every block
 * ZERO with block_state_zero, the default; a fixed image's blocks in place otherwise) and the
 * metadata; data starts 5 MiB past the BAT. A guest write into a block not present allocates it at
 * the end of the file (rounded up to 1 MiB) and records the new BAT entry through the log: one
 * entry (a header sector with one descriptor, and the BAT sector as its data sector) written into
 * the circular log, then applied to the BAT. Logical sectors are 512 bytes, as qemu writes them.
 */
import { DiskImgError } from '../../errors.ts';
import type { GuestWriter } from '../output/guest-writer.ts';
import type { HostFile } from '../output/host-file.ts';
import { ascii, randomUuid, setLe64 } from '../output/fields.ts';
import { crc32cUpdate } from './crc32c.ts';
import { BAT_GUID, HEADER1_OFFSET, HEADER2_OFFSET, METADATA_GUID, MiB, REGION_TABLE2_OFFSET, REGION_TABLE_OFFSET } from './header.ts';
import { FILE_PARAMETERS, LOGICAL_SECTOR, PAGE83, PHYSICAL_SECTOR, VIRTUAL_DISK_SIZE } from './metadata.ts';

export interface VhdxWriteOptions {
  subformat: 'dynamic' | 'fixed';
  /** 0: chosen from the disk's size, as qemu does. */
  blockSize: number;
  logSize: number;
  /** Blocks start in the ZERO state (qemu's default); off: NOT_PRESENT (fixed: present in place). */
  blockStateZero: boolean;
}

export const DEFAULT_VHDX_OPTIONS: VhdxWriteOptions = { subformat: 'dynamic', blockSize: 0, logSize: MiB, blockStateZero: true };

const KiB = 1024;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;
const MAX_IMAGE_SIZE = 64 * TiB;
const MAX_BLOCK_SIZE = 256 * MiB;
const SECTOR = 512;
const LOG_SECTOR = 4096;
/** Where the log starts: the header section ends at 1 MiB. */
const HEADER_SECTION_END = MiB;
/** VHDX_MAX_SECTORS_PER_BLOCK: a chunk's sector bitmap covers 2^23 sectors. */
const SECTORS_PER_CHUNK = 2 ** 23;
const METADATA_ITEMS_OFFSET = 64 * KiB;
const CREATOR = 'diskimg';

const STATE_ZERO = 2;
const STATE_FULLY_PRESENT = 6;

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

/** The options vhdx_co_create settles on for a disk of `size` bytes, or its message. */
export function resolveVhdxOptions(size: number, given: Partial<VhdxWriteOptions>): VhdxWriteOptions {
  const usage = (message: string, field: string, value: number): never => {
    throw new DiskImgError('usage', message, { field, value });
  };
  if (size > MAX_IMAGE_SIZE) usage('Image size too large; max of 64TB', 'size', size);
  const options = { ...DEFAULT_VHDX_OPTIONS, ...given };
  if (options.logSize > 0xffffffff) usage('Log size must be smaller than 4 GB', 'log_size', options.logSize);
  options.logSize = Math.max(MiB, roundUp(options.logSize, MiB));
  let blockSize = options.blockSize;
  if (blockSize === 0) blockSize = size > 32 * TiB ? 64 * MiB : size > 100 * GiB ? 32 * MiB : size > GiB ? 16 * MiB : 8 * MiB;
  blockSize = Math.min(MAX_BLOCK_SIZE, Math.max(MiB, roundUp(blockSize, MiB)));
  if ((blockSize & (blockSize - 1)) !== 0) usage('Block size must be a power of two', 'block_size', blockSize);
  return { ...options, blockSize };
}

/** A GUID's 16 bytes as VHDX stores them (the first three fields little-endian). */
function guidBytes(guid: string): Uint8Array {
  const hex = guid.replace(/-/g, '');
  const b = Uint8Array.from({ length: 16 }, (_, i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16));
  return Uint8Array.from([b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], ...b.subarray(8)]);
}

/** Stores the CRC-32C of `bytes` (the field taken as zero) at `at`. */
function setChecksum(bytes: Uint8Array, at: number): void {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, 0, true);
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, (crc32cUpdate(0xffffffff, bytes) ^ 0xffffffff) >>> 0, true);
}

function fileIdentifier(): Uint8Array {
  const out = new Uint8Array(64 * KiB);
  ascii(out, 0, 'vhdxfile');
  for (let i = 0; i < CREATOR.length; i++) out[8 + i * 2] = CREATOR.charCodeAt(i);
  return out;
}

function header(sequence: bigint, logSize: number): Uint8Array {
  const out = new Uint8Array(4 * KiB);
  const v = new DataView(out.buffer);
  ascii(out, 0, 'head');
  v.setBigUint64(8, sequence, true);
  out.set(randomUuid(), 16); // file write GUID
  out.set(randomUuid(), 32); // data write GUID
  v.setUint16(66, 1, true); // version
  v.setUint32(68, logSize, true);
  setLe64(v, 72, HEADER_SECTION_END);
  setChecksum(out, 4);
  return out;
}

export class VhdxWriter implements GuestWriter {
  private readonly bat: Float64Array;
  private readonly chunkRatio: number;
  private readonly batOffset: number;
  private readonly batLength: number;
  private readonly dataOffset: number;
  private logWrite = 0;
  private logSequence = 1n;

  private constructor(
    private readonly host: HostFile,
    readonly size: number,
    readonly options: VhdxWriteOptions,
  ) {
    const bs = options.blockSize;
    this.chunkRatio = (SECTORS_PER_CHUNK * SECTOR) / bs;
    const dataBlocks = Math.ceil(size / bs);
    const entries = dataBlocks === 0 ? 0 : dataBlocks + Math.floor((dataBlocks - 1) / this.chunkRatio);
    this.bat = new Float64Array(entries);
    this.batOffset = roundUp(HEADER_SECTION_END + options.logSize, MiB);
    // vhdx_calc_bat_entries counts in 32 bits: for an empty disk, 0 - 1 wraps, and qemu sizes
    // the BAT region for 2^32 / chunk ratio entries (all zero).
    const regionEntries = dataBlocks === 0 ? Math.floor(0xffffffff / this.chunkRatio) : entries;
    this.batLength = roundUp(regionEntries * 8, MiB);
    this.dataOffset = this.batOffset + this.batLength + 5 * MiB;
  }

  static async create(host: HostFile, virtualSize: number, options: VhdxWriteOptions): Promise<VhdxWriter> {
    const writer = new VhdxWriter(host, virtualSize, resolveVhdxOptions(virtualSize, options));
    await writer.initialise();
    return writer;
  }

  private get metadataOffset(): number {
    return roundUp(this.batOffset + this.batLength, MiB);
  }

  private batIndex(block: number): number {
    return block + Math.floor(block / this.chunkRatio);
  }

  private async initialise(): Promise<void> {
    const { host, options } = this;
    const fixed = options.subformat === 'fixed';
    await host.metadata(0, fileIdentifier());
    const sequence = BigInt(crypto.getRandomValues(new Uint32Array(1))[0]);
    await host.metadata(HEADER1_OFFSET, header(sequence, options.logSize));
    await host.metadata(HEADER2_OFFSET, header(sequence + 1n, options.logSize));
    await host.setLength(this.dataOffset + (fixed ? this.size : 0));
    if (fixed || options.blockStateZero) {
      const blocks = Math.ceil(this.size / options.blockSize);
      for (let block = 0; block < blocks; block++) {
        const entry = options.blockStateZero ? STATE_ZERO : roundUp(this.dataOffset + block * options.blockSize, MiB) + STATE_FULLY_PRESENT;
        this.bat[this.batIndex(block)] = entry;
      }
      // In 1 MiB pieces: a 64 TB disk of 1 MiB blocks has a 512 MiB BAT.
      for (let at = 0; at < this.batLength; at += MiB) await host.metadata(this.batOffset + at, this.batBytes(at, MiB));
    }
    const regions = this.regionTable();
    await host.metadata(REGION_TABLE_OFFSET, regions);
    await host.metadata(REGION_TABLE2_OFFSET, regions);
    await this.writeMetadata(fixed);
  }

  private regionTable(): Uint8Array {
    const out = new Uint8Array(64 * KiB);
    const v = new DataView(out.buffer);
    ascii(out, 0, 'regi');
    v.setUint32(8, 2, true);
    out.set(guidBytes(BAT_GUID), 16);
    setLe64(v, 32, this.batOffset);
    v.setUint32(40, this.batLength, true);
    out.set(guidBytes(METADATA_GUID), 48);
    setLe64(v, 64, this.metadataOffset);
    v.setUint32(72, MiB, true);
    setChecksum(out, 4);
    return out;
  }

  private async writeMetadata(fixed: boolean): Promise<void> {
    const table = new Uint8Array(64 * KiB);
    const t = new DataView(table.buffer);
    ascii(table, 0, 'metadata');
    t.setUint16(10, 5, true);
    const REQUIRED = 4;
    const VIRTUAL_DISK = 2;
    const items: Array<[string, number, number]> = [
      [FILE_PARAMETERS, 8, REQUIRED],
      [VIRTUAL_DISK_SIZE, 8, REQUIRED | VIRTUAL_DISK],
      [PAGE83, 16, REQUIRED | VIRTUAL_DISK],
      [LOGICAL_SECTOR, 4, REQUIRED | VIRTUAL_DISK],
      [PHYSICAL_SECTOR, 4, REQUIRED | VIRTUAL_DISK],
    ];
    let offset = METADATA_ITEMS_OFFSET;
    items.forEach(([guid, length, flags], i) => {
      const at = 32 + i * 32;
      table.set(guidBytes(guid), at);
      t.setUint32(at + 16, offset, true);
      t.setUint32(at + 20, length, true);
      t.setUint32(at + 24, flags, true);
      offset += length;
    });
    const values = new Uint8Array(40);
    const v = new DataView(values.buffer);
    v.setUint32(0, this.options.blockSize, true);
    v.setUint32(4, fixed ? 1 : 0, true); // LeaveBlocksAllocated
    setLe64(v, 8, this.size);
    values.set(randomUuid(), 16); // page 83 data: the disk's serial
    v.setUint32(32, SECTOR, true);
    v.setUint32(36, SECTOR, true);
    await this.host.metadata(this.metadataOffset, table);
    await this.host.metadata(this.metadataOffset + METADATA_ITEMS_OFFSET, values);
  }

  /** BAT bytes [from, from + length) as stored. */
  private batBytes(from: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    const v = new DataView(out.buffer);
    for (let i = from / 8; i < this.bat.length && (i + 1) * 8 <= from + length; i++) if (this.bat[i]) setLe64(v, i * 8 - from, this.bat[i]);
    return out;
  }

  async write(guestOffset: number, bytes: Uint8Array): Promise<void> {
    if (guestOffset + bytes.length > this.size) {
      throw new DiskImgError('usage', `A write at ${guestOffset} of ${bytes.length} bytes runs past the VHDX's ${this.size} bytes`, {
        offset: guestOffset,
      });
    }
    const bs = this.options.blockSize;
    for (let done = 0; done < bytes.length;) {
      const at = guestOffset + done;
      const block = Math.floor(at / bs);
      const inBlock = at % bs;
      const n = Math.min(bytes.length - done, bs - inBlock);
      const index = this.batIndex(block);
      let entry = this.bat[index];
      const allocating = entry % 8 !== STATE_FULLY_PRESENT;
      if (allocating) {
        // vhdx_allocate_block: at the end of the file, on a 1 MiB boundary; the file grows to hold it.
        const offset = roundUp(this.host.length, MiB);
        await this.host.setLength(offset + bs);
        entry = offset + STATE_FULLY_PRESENT;
        this.bat[index] = entry;
      }
      const blockOffset = entry - (entry % MiB);
      await this.host.data(blockOffset + inBlock, bytes.subarray(done, done + n), at);
      if (allocating) await this.logBatEntry(index);
      done += n;
    }
  }

  /**
   * vhdx_log_write_and_flush: the BAT sector holding the entry goes into the log as one entry (a
   * descriptor carrying its first 8 and last 4 bytes, a data sector the rest), then to its place.
   */
  private async logBatEntry(index: number): Promise<void> {
    const sectorOffset = Math.floor((index * 8) / LOG_SECTOR) * LOG_SECTOR;
    const sector = this.batBytes(sectorOffset, LOG_SECTOR);
    const sv = new DataView(sector.buffer);
    const entry = new Uint8Array(2 * LOG_SECTOR);
    const v = new DataView(entry.buffer);
    const sequence = this.logSequence++;
    ascii(entry, 0, 'loge');
    v.setUint32(8, entry.length, true);
    v.setUint32(12, this.logWrite, true); // tail: every earlier entry is already applied
    v.setBigUint64(16, sequence, true);
    v.setUint32(24, 1, true);
    entry.set(randomUuid(), 32); // log GUID
    setLe64(v, 48, this.host.length);
    setLe64(v, 56, this.host.length);
    ascii(entry, 64, 'desc');
    v.setUint32(68, sv.getUint32(LOG_SECTOR - 4, true), true);
    v.setBigUint64(72, sv.getBigUint64(0, true), true);
    setLe64(v, 80, this.batOffset + sectorOffset);
    v.setBigUint64(88, sequence, true);
    const data = LOG_SECTOR;
    ascii(entry, data, 'data');
    v.setUint32(data + 4, Number(sequence >> 32n), true);
    entry.set(sector.subarray(8, LOG_SECTOR - 4), data + 8);
    v.setUint32(data + LOG_SECTOR - 4, Number(sequence & 0xffffffffn), true);
    setChecksum(entry, 4);
    const logOffset = HEADER_SECTION_END;
    for (let i = 0; i < 2; i++) {
      await this.host.metadata(logOffset + this.logWrite, entry.subarray(i * LOG_SECTOR, (i + 1) * LOG_SECTOR));
      this.logWrite = (this.logWrite + LOG_SECTOR) % this.options.logSize;
    }
    await this.host.metadata(this.batOffset + sectorOffset, sector);
  }

  async finish(): Promise<void> {}
}
