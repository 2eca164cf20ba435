/**
 * A VHDX file as one layer (block/vhdx.c's open and read paths): header, log (replayed in memory),
 * region table, metadata, then the guest → file mapping through the BAT. Differencing disks
 * (which qemu cannot read) name their parent as the backing file; their partially present blocks
 * choose between this file and the parent sector by sector, through the sector bitmap.
 */
import { checkResult } from '../../check.ts';
import { mergeable } from '../extents.ts';
import { DiskImgError } from '../../errors.ts';
import type { CheckResult, Extent, FormatFacts, Layer } from '../../image.ts';
import { readInto, type Storage } from '../../storage/storage.ts';
import { Bat, FULLY_PRESENT, NOT_PRESENT, PARTIALLY_PRESENT, SB_PRESENT, UNDEFINED, UNMAPPED, UNMAPPED_V095, ZERO } from './bat.ts';
import { le32 } from './fields.ts';
import { readHeader, readRegionTable, type Region, type VhdxHeader } from './header.ts';
import { openLog } from './log.ts';
import { readMetadata, type VhdxMetadata } from './metadata.ts';

/** Sectors one sector bitmap block covers (2^23), whatever the block size. */
const SECTORS_PER_CHUNK = 2 ** 23;
const INT64_MAX = (1n << 63n) - 1n;

export interface VhdxOpenOptions {
  /** Open for qemu-img check (BDRV_O_CHECK): BAT problems are the check's to report, not the open's. */
  forCheck?: boolean;
}

interface Span {
  start: number;
  end: number;
}

export class VhdxLayer implements Layer {
  readonly format = 'vhdx';
  /** qemu's vhdx driver has no block status: qemu-img map shows the whole disk as data. */
  readonly noBlockStatus = true;
  readonly backingFilename?: string;
  readonly backingFormat?: string;
  readonly virtualSize: number;
  readonly chunkRatio: number;
  readonly batEntries: number;
  private readonly bat: Bat;
  private bitmapCache?: { index: number; bytes: Uint8Array };

  private constructor(
    /** The file as opened (its name is the image's). */
    readonly storage: Storage,
    /** The file with its log replayed, where it had one: every read goes through it. */
    readonly data: Storage,
    readonly header: VhdxHeader,
    readonly metadata: VhdxMetadata,
    readonly batRegion: Region,
    /** Regions no payload block may overlap: the log, then each region table entry. */
    readonly regions: Span[],
    readonly logReplayed: boolean,
  ) {
    const m = metadata;
    this.chunkRatio = (SECTORS_PER_CHUNK * m.logicalSectorSize) / m.blockSize;
    // As qemu: the size in whole logical sectors.
    this.virtualSize = Math.floor(m.virtualDiskSize / m.logicalSectorSize) * m.logicalSectorSize;
    // qemu counts blocks in 32 bits; a count beyond that is refused before this point.
    const dataBlocks = Math.ceil(m.virtualDiskSize / m.blockSize);
    const bitmapBlocks = Math.ceil(dataBlocks / this.chunkRatio);
    this.batEntries = m.hasParent
      ? bitmapBlocks * (this.chunkRatio + 1)
      : dataBlocks + Math.floor(((dataBlocks - 1) >>> 0) / this.chunkRatio);
    this.bat = new Bat(data, batRegion.fileOffset, this.batEntries);
    if (m.hasParent && m.parentLocator) {
      const name = m.parentLocator.get('relative_path') ?? m.parentLocator.get('absolute_win32_path') ?? m.parentLocator.get('volume_path');
      if (name !== undefined) {
        this.backingFilename = name.replace(/\\/g, '/').replace(/^(\.\/)+/, '');
        this.backingFormat = 'vhdx';
      }
    }
  }

  get clusterSize(): number {
    return this.metadata.blockSize;
  }

  get blockSize(): number {
    return this.metadata.blockSize;
  }

  get differencing(): boolean {
    return this.metadata.hasParent;
  }

  /** As qemu-img -o subformat names it; a disk with a parent is differencing. */
  get subformat(): string {
    return this.metadata.hasParent ? 'differencing' : this.metadata.leaveBlocksAllocated ? 'fixed' : 'dynamic';
  }

  static async open(storage: Storage, options: VhdxOpenOptions = {}): Promise<VhdxLayer> {
    const header = await readHeader(storage);
    const { storage: data, replayed } = await openLog(storage, header);
    const { regions, bat, metadata: metadataRegion } = await readRegionTable(data);
    const spans: Span[] = [{ start: header.logOffset, end: header.logOffset + header.logLength }];
    for (const [i, region] of regions.entries()) {
      const span = { start: region.fileOffset, end: region.fileOffset + region.length };
      const hit = spans.find((s) => overlaps(s, span));
      if (hit)
        throw new DiskImgError('corrupt', overlapMessage(span, hit), {
          file: storage.name,
          field: `region table entry ${i}`,
          value: region.fileOffset,
        });
      spans.push(span);
    }
    const metadata = await readMetadata(data, metadataRegion);
    const blocks = Math.ceil(metadata.virtualDiskSize / metadata.blockSize);
    if (blocks >= 2 ** 32)
      throw new DiskImgError('limit', `VHDX: ${blocks} blocks of ${metadata.blockSize} bytes are more than a BAT can count`, {
        file: storage.name,
        field: 'virtual disk size',
        value: metadata.virtualDiskSize,
      });
    const layer = new VhdxLayer(storage, data, header, metadata, bat, spans, replayed);
    if (layer.batEntries > Math.floor(bat.length / 8)) {
      throw new DiskImgError(
        'corrupt',
        `VHDX: the BAT needs ${layer.batEntries} entries, but its region holds ${Math.floor(bat.length / 8)}`,
        { file: storage.name, field: 'BAT region length', value: bat.length },
      );
    }
    if (!options.forCheck) {
      const problems = await layer.checkBat(true);
      if (problems.length > 0)
        throw new DiskImgError('corrupt', problems[0].message, {
          file: storage.name,
          field: 'BAT entry',
          offset: problems[0].offset,
          value: problems[0].index,
        });
    }
    return layer;
  }

  /**
   * vhdx_check_bat_entries: every fully present block must lie inside the file and outside the
   * log and the regions. qemu's own quirks are kept: the last block may be short, and after every
   * `chunkRatio` present blocks it skips one (meant for sector bitmaps).
   */
  private async checkBat(firstOnly: boolean): Promise<Array<{ index: number; offset: number; message: string }>> {
    const problems: Array<{ index: number; offset: number; message: string }> = [];
    // As bdrv_getlength: the file's length in whole 512-byte sectors.
    const fileSize = BigInt(Math.ceil(this.data.size / 512) * 512);
    const blockSize = BigInt(this.blockSize);
    const virtual = BigInt(this.virtualSize);
    // Entries past the end of the file read as zeros (not present): no need to look at them.
    const inFile = Math.max(0, Math.min(this.batEntries, Math.ceil((this.data.size - this.batRegion.fileOffset) / 8)));
    let payblocks = this.chunkRatio;
    for await (const { first, bytes } of this.bat.pagesUpTo(inFile)) {
      for (let k = 0; k * 8 < bytes.length; k++) {
        const lo = le32(bytes, k * 8);
        if ((lo & 7) !== FULLY_PRESENT) continue;
        const i = first + k;
        const offset = (BigInt(le32(bytes, k * 8 + 4)) << 32n) | BigInt(((lo >>> 20) << 20) >>> 0);
        const entryAt = this.batRegion.fileOffset + i * 8;
        const report = (message: string) => problems.push({ index: i, offset: entryAt, message });
        const left = virtual - BigInt(i) * blockSize;
        const blockLength = left >= 0n && left < blockSize ? left : blockSize;
        if (offset > INT64_MAX - blockSize) {
          report(`VHDX BAT entry ${i} offset overflow.`);
          if (firstOnly) return problems;
        }
        if (offset >= fileSize) {
          report(`VHDX BAT entry ${i} start offset ${offset} points after end of file (${fileSize}). Image has probably been truncated.`);
          if (firstOnly) return problems;
        } else if (offset + blockLength > fileSize) {
          report(
            `VHDX BAT entry ${i} end offset ${offset + blockLength - 1n} points after end of file (${fileSize}). Image has probably been truncated.`,
          );
          if (firstOnly) return problems;
        }
        if (payblocks-- > 0) {
          const span = { start: Number(offset), end: Number(offset) + this.blockSize };
          const hit = this.regions.find((s) => overlaps(s, span));
          if (hit) {
            report(overlapMessage(span, hit));
            if (firstOnly) return problems;
          }
        } else payblocks = this.chunkRatio;
      }
    }
    return problems;
  }

  async describe(): Promise<FormatFacts> {
    return { 'cluster-size': this.blockSize };
  }

  /** qemu-img check for vhdx: the BAT entries' offsets (vhdx_co_check). */
  async check(): Promise<CheckResult> {
    const problems = await this.checkBat(false);
    return checkResult(this, { corruptions: problems.length, messages: problems.map((p) => `qemu-img: ${p.message}`) });
  }

  async *mappings(start: number, end: number): AsyncGenerator<Extent> {
    end = Math.min(end, this.virtualSize);
    let pending: Extent | undefined;
    let guest = start;
    while (guest < end) {
      const block = Math.floor(guest / this.blockSize);
      const blockStart = block * this.blockSize;
      const pieceEnd = Math.min(end, blockStart + this.blockSize);
      // Runs of empty blocks only lengthen the pending extent: a huge sparse disk goes fast.
      const index = block + Math.floor(block / this.chunkRatio);
      const entry = this.bat.cachedEntry(index) ?? (await this.bat.entry(index));
      const empty = EMPTY_KIND[entry.state];
      if (empty && pending?.kind === empty && pending.start + pending.length === guest && pending.hostOffset === undefined) {
        pending.length += pieceEnd - guest;
        guest = pieceEnd;
        continue;
      }
      for (const piece of await this.blockPieces(block, guest, pieceEnd)) {
        if (pending && mergeable(pending, piece)) pending.length += piece.length;
        else {
          if (pending) yield pending;
          pending = piece;
        }
      }
      guest = pieceEnd;
    }
    if (pending) yield pending;
  }

  /** The extents [from, to) of payload block `block`. */
  private async blockPieces(block: number, from: number, to: number): Promise<Extent[]> {
    const index = block + Math.floor(block / this.chunkRatio);
    const entry = await this.bat.entry(index);
    const whole = (kind: Extent['kind']): Extent[] => [{ start: from, length: to - from, kind, depth: 0 }];
    const blockStart = block * this.blockSize;
    const where = { file: this.storage.name, field: 'BAT entry', offset: this.batRegion.fileOffset + index * 8, value: index };
    switch (entry.state) {
      case NOT_PRESENT:
      case UNDEFINED:
        return whole('unallocated');
      case ZERO:
      case UNMAPPED:
      case UNMAPPED_V095:
        return whole('zero');
      case FULLY_PRESENT:
        return [
          {
            start: from,
            length: to - from,
            kind: 'data',
            depth: 0,
            hostOffset: this.blockOffset(entry.offset, where) + (from - blockStart),
          },
        ];
      case PARTIALLY_PRESENT:
        if (this.differencing) return this.partialPieces(block, entry.offset, from, to, where);
    }
    // qemu fails the read (EIO); so does the read of this extent (data with no host offset).
    return [{ start: from, length: to - from, kind: 'data', depth: 0 }];
  }

  private blockOffset(offset: bigint, where: Record<string, unknown>): number {
    if (offset === 0n || offset > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new DiskImgError('corrupt', `VHDX: BAT entry ${where.value} has a present block at file offset ${offset}`, where);
    }
    return Number(offset);
  }

  /** A partially present block: the sector bitmap says, sector by sector, this file (1) or the parent (0). */
  private async partialPieces(block: number, offset: bigint, from: number, to: number, where: Record<string, unknown>): Promise<Extent[]> {
    const host = this.blockOffset(offset, where);
    const sector = this.metadata.logicalSectorSize;
    const blockStart = block * this.blockSize;
    const bits = await this.bitmapOf(block);
    const pieces: Extent[] = [];
    // Sector indexes within the block (bits is this block's slice of its chunk's bitmap).
    let s = Math.floor((from - blockStart) / sector);
    const last = Math.ceil((to - blockStart) / sector);
    while (s < last) {
      const set = bits ? (bits[s >> 3] >> (s & 7)) & 1 : 0;
      let e = s + 1;
      while (e < last && (bits ? (bits[e >> 3] >> (e & 7)) & 1 : 0) === set) e++;
      const pieceStart = Math.max(from, blockStart + s * sector);
      const pieceEnd = Math.min(to, blockStart + e * sector);
      pieces.push(
        set
          ? { start: pieceStart, length: pieceEnd - pieceStart, kind: 'data', depth: 0, hostOffset: host + (pieceStart - blockStart) }
          : { start: pieceStart, length: pieceEnd - pieceStart, kind: 'unallocated', depth: 0 },
      );
      s = e;
    }
    return pieces;
  }

  /** Block `block`'s bits of its chunk's sector bitmap, or null when that bitmap is not present. */
  private async bitmapOf(block: number): Promise<Uint8Array | null> {
    if (this.bitmapCache?.index === block) return this.bitmapCache.bytes;
    const chunk = Math.floor(block / this.chunkRatio);
    const index = chunk * (this.chunkRatio + 1) + this.chunkRatio;
    const entry = await this.bat.entry(index);
    if (entry.state !== SB_PRESENT) return null;
    const where = {
      file: this.storage.name,
      field: 'sector bitmap BAT entry',
      offset: this.batRegion.fileOffset + index * 8,
      value: index,
    };
    const bitmap = this.blockOffset(entry.offset, where);
    const perBlock = this.blockSize / this.metadata.logicalSectorSize / 8;
    const bytes = await this.data.read(bitmap + (block % this.chunkRatio) * perBlock, perBlock);
    this.bitmapCache = { index: block, bytes };
    return bytes;
  }

  async readExtent(extent: Extent, start: number, length: number): Promise<Uint8Array> {
    if (extent.kind !== 'data') return new Uint8Array(length);
    if (extent.hostOffset === undefined) return this.refuse(start);
    return this.data.read(extent.hostOffset + (start - extent.start), length);
  }

  async readExtentInto(extent: Extent, start: number, target: Uint8Array): Promise<void> {
    if (extent.kind !== 'data') target.fill(0);
    else if (extent.hostOffset === undefined) await this.refuse(start);
    else await readInto(this.data, extent.hostOffset + (start - extent.start), target);
  }

  /** A data extent without a host offset is a block qemu cannot read either: say which and why. */
  private async refuse(start: number): Promise<never> {
    const block = Math.floor(start / this.blockSize);
    const index = block + Math.floor(block / this.chunkRatio);
    const { state } = await this.bat.entry(index);
    const what = state === PARTIALLY_PRESENT ? 'is partially present in a disk with no parent' : `has unknown state ${state}`;
    throw new DiskImgError('corrupt', `VHDX: the block of BAT entry ${index} ${what}`, {
      file: this.storage.name,
      field: 'BAT entry',
      offset: this.batRegion.fileOffset + index * 8,
      value: state,
    });
  }
}

/** The extent kind of a block whose state says it holds nothing here. */
const EMPTY_KIND: Record<number, Extent['kind'] | undefined> = {
  [NOT_PRESENT]: 'unallocated',
  [UNDEFINED]: 'unallocated',
  [ZERO]: 'zero',
  [UNMAPPED]: 'zero',
  [UNMAPPED_V095]: 'zero',
};

const overlaps = (a: Span, b: Span) => !(b.start >= a.end || b.end <= a.start);
/** qemu's words (vhdx_region_check): the new span first, then the one it overlaps. */
const overlapMessage = (span: Span, hit: Span) => `VHDX region ${span.start}-${span.end} overlaps with region ${hit.start}-${hit.end}`;
