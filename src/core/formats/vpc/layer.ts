/**
 * A VHD as one layer (qemu's "vpc"): fixed (the guest disk then a footer), dynamic (a block
 * allocation table of blocks, each a sector bitmap then the data) and differencing (a dynamic
 * disk over a parent). Read-only.
 *
 * As qemu 7.2 reads them: a fixed disk's guest offset is its file offset; a dynamic disk's block
 * is read whole once allocated — its sector bitmap is ignored — and an unallocated block reads as
 * zeros (block status: zero, no data, allocated). qemu opens a differencing disk the same way,
 * without its parent; we give it its parent: unallocated blocks, and sectors whose bitmap bit is
 * clear, are the parent's.
 */
import { merged, readStored, readStoredInto } from '../extents.ts';
import { view } from '../../bytes.ts';
import { DiskImgError } from '../../errors.ts';
import type { Extent, ExtentKind, FormatFacts, Layer } from '../../image.ts';
import type { Storage } from '../../storage/storage.ts';
import { L2Cache } from '../qcow2/l2-cache.ts';
import { FOOTER_SIZE, TYPE_DIFFERENCING, TYPE_FIXED, checkFooter, hasCookie, parseFooter, type VhdFooter } from './footer.ts';
import { HEADER_SIZE, parentFileName, parseDynamicHeader, type DynamicHeader } from './header.ts';

const UNALLOCATED = 0xffffffff;
/** A block allocation table up to this size is held whole; a larger one is read in pages. */
const WHOLE_TABLE_BYTES = 16 * 1024 * 1024;
const TABLE_PAGE_BYTES = 64 * 1024;
const SCAN_BYTES = 4 * 1024 * 1024;

const TRUNCATED = 'block-vpc: free_data_block_offset points after the end of file. The image has been truncated.';

export class VpcLayer implements Layer {
  readonly format = 'vpc';
  readonly virtualSize: number;
  readonly backingFilename?: string;
  /** The parent's UUID a differencing disk names (its footer's UUID must be this). */
  readonly parentUuid?: string;

  get subformat(): string {
    return this.footer.type === TYPE_FIXED ? 'fixed' : this.footer.type === TYPE_DIFFERENCING ? 'differencing' : 'dynamic';
  }
  private readonly bitmaps?: L2Cache;
  private readonly tablePages?: L2Cache;

  private constructor(
    readonly storage: Storage,
    readonly footer: VhdFooter,
    /** Dynamic and differencing disks (footer at the start): their header. */
    readonly header: DynamicHeader | undefined,
    virtualSectors: number,
    /** The whole table, when it is small enough to hold. */
    private readonly table: DataView | undefined,
    parent?: { name: string; uuid: string },
  ) {
    this.virtualSize = virtualSectors * 512;
    if (parent) {
      this.backingFilename = parent.name;
      this.parentUuid = parent.uuid;
    }
    if (header && !table) this.tablePages = new L2Cache(storage, TABLE_PAGE_BYTES);
    if (header && footer.type === TYPE_DIFFERENCING) this.bitmaps = new L2Cache(storage, header.bitmapSize, 4 * 1024 * 1024);
  }

  static async open(storage: Storage): Promise<VpcLayer> {
    let at = 0;
    let bytes = await storage.read(0, FOOTER_SIZE);
    const sparse = hasCookie(bytes);
    // qemu's file length is whole sectors: a file's partial last sector counts as a whole one.
    const fileLength = Math.ceil(storage.size / 512) * 512;
    if (!sparse) {
      // A fixed disk has its footer only at the end of the file.
      if (fileLength < FOOTER_SIZE)
        throw new DiskImgError('invalid-format', 'File too small for a VHD header', { field: 'file size', value: storage.size });
      at = fileLength - FOOTER_SIZE;
      bytes = await storage.read(at, FOOTER_SIZE);
      if (!hasCookie(bytes) || parseFooter(bytes).type !== TYPE_FIXED) {
        throw new DiskImgError('invalid-format', 'invalid VPC image', {
          field: 'footer cookie',
          offset: at,
          value: hasCookie(bytes) ? `disk type ${parseFooter(bytes).type}` : 'no conectix cookie at the start or the end',
        });
      }
    }
    const footer = parseFooter(bytes);
    const sectors = checkFooter(footer, bytes, at);
    if (!sparse) return new VpcLayer(storage, footer, undefined, sectors, undefined);

    const headerBytes = footer.dataOffset < storage.size ? await storage.read(footer.dataOffset, HEADER_SIZE) : new Uint8Array(HEADER_SIZE);
    const header = parseDynamicHeader(headerBytes, footer.dataOffset, sectors);
    const table = await scanTable(storage, header, fileLength);
    const parent = footer.type === TYPE_DIFFERENCING ? { name: await parentFileName(storage, header), uuid: header.parentUuid } : undefined;
    return new VpcLayer(storage, footer, header, sectors, table, parent);
  }

  get clusterSize(): number | undefined {
    return this.header?.blockSize;
  }

  /** qemu-img info: the block size as cluster size, unless the footer says fixed. */
  async describe(): Promise<FormatFacts> {
    return this.footer.type !== TYPE_FIXED && this.header ? { 'cluster-size': this.header.blockSize } : {};
  }

  mappings(start: number, end: number): AsyncGenerator<Extent> {
    return merged(this.pieces(start, Math.min(end, this.virtualSize)));
  }

  /** Block by block, as the block table (and a differencing disk's bitmaps) map them. */
  private async *pieces(start: number, end: number): AsyncGenerator<Extent> {
    if (start >= end) return;
    const header = this.header;
    // A footer that says fixed is read as the raw file, whatever the layout (qemu does).
    if (!header || this.footer.type === TYPE_FIXED) {
      yield { start, length: end - start, kind: 'data', depth: 0, hostOffset: start };
      return;
    }
    const differencing = this.footer.type === TYPE_DIFFERENCING;
    const { blockSize } = header;
    for (let guest = start; guest < end;) {
      const index = Math.floor(guest / blockSize);
      const blockStart = index * blockSize;
      const blockEnd = Math.min(end, blockStart + blockSize);
      const entry = index < header.maxTableEntries ? await this.tableEntry(index) : UNALLOCATED;
      let pieces: Extent[];
      let pieceEnd = blockEnd;
      if (entry === UNALLOCATED) {
        // A run of unallocated blocks is one piece (a 2 TiB empty disk has a million blocks).
        if (this.table) {
          let next = index + 1;
          while (next * blockSize < end && (next >= header.maxTableEntries || this.table.getUint32(next * 4) === UNALLOCATED)) next++;
          pieceEnd = Math.min(end, next * blockSize);
        }
        pieces = [{ start: guest, length: pieceEnd - guest, kind: differencing ? 'unallocated' : 'zero', depth: 0 }];
      } else {
        const dataStart = entry * 512 + header.bitmapSize;
        pieces = differencing
          ? await this.sectorPieces(entry * 512, dataStart, blockStart, guest, blockEnd)
          : [{ start: guest, length: blockEnd - guest, kind: 'data', depth: 0, hostOffset: dataStart + (guest - blockStart) }];
      }
      yield* pieces;
      guest = pieceEnd;
    }
  }

  /** A differencing block by its sector bitmap (bit 7 of byte 0 is the block's first sector). */
  private async sectorPieces(bitmapOffset: number, dataStart: number, blockStart: number, from: number, to: number): Promise<Extent[]> {
    const bitmap = await this.bitmaps!.get(bitmapOffset);
    const pieces: Extent[] = [];
    for (let guest = from; guest < to;) {
      const sector = Math.floor((guest - blockStart) / 512);
      const present = (bitmap[sector >> 3] & (0x80 >> (sector & 7))) !== 0;
      let next = Math.min(to, blockStart + (sector + 1) * 512);
      while (next < to) {
        const s = (next - blockStart) / 512;
        if (((bitmap[s >> 3] & (0x80 >> (s & 7))) !== 0) !== present) break;
        next = Math.min(to, next + 512);
      }
      const kind: ExtentKind = present ? 'data' : 'unallocated';
      pieces.push(
        present
          ? { start: guest, length: next - guest, kind, depth: 0, hostOffset: dataStart + (guest - blockStart) }
          : { start: guest, length: next - guest, kind, depth: 0 },
      );
      guest = next;
    }
    return pieces;
  }

  private async tableEntry(index: number): Promise<number> {
    if (this.table) return this.table.getUint32(index * 4);
    const byte = index * 4;
    const page = Math.floor(byte / TABLE_PAGE_BYTES);
    const bytes = await this.tablePages!.get(this.header!.tableOffset + page * TABLE_PAGE_BYTES);
    return view(bytes).getUint32(byte - page * TABLE_PAGE_BYTES);
  }

  readExtent(extent: Extent, start: number, length: number): Promise<Uint8Array> {
    return readStored(this.storage, extent, start, length);
  }

  readExtentInto(extent: Extent, start: number, target: Uint8Array): Promise<void> {
    return readStoredInto(this.storage, extent, start, target);
  }
}

/**
 * Walks the block allocation table as qemu's open does: every allocated block (its bitmap and
 * data) must end inside the file, or the image has been truncated. Returns the table when it is
 * small enough to keep.
 */
async function scanTable(storage: Storage, header: DynamicHeader, fileLength: number): Promise<DataView | undefined> {
  const tableBytes = header.maxTableEntries * 4;
  const tableEnd = Math.ceil((header.tableOffset + tableBytes) / 512) * 512;
  if (tableEnd > fileLength) {
    throw new DiskImgError('corrupt', TRUNCATED, {
      field: 'table_offset',
      offset: header.tableOffset,
      value: tableEnd,
      entries: header.maxTableEntries,
    });
  }
  const blockBytes = header.bitmapSize + header.blockSize;
  const whole = tableBytes <= WHOLE_TABLE_BYTES ? new Uint8Array(tableBytes) : undefined;
  for (let done = 0; done < tableBytes; done += SCAN_BYTES) {
    const chunk = await storage.read(header.tableOffset + done, Math.min(SCAN_BYTES, tableBytes - done));
    whole?.set(chunk, done);
    const v = view(chunk);
    for (let i = 0; i < chunk.length; i += 4) {
      const entry = v.getUint32(i);
      if (entry !== UNALLOCATED && entry * 512 + blockBytes > fileLength) {
        throw new DiskImgError('corrupt', TRUNCATED, {
          field: 'BAT entry',
          offset: header.tableOffset + done + i,
          value: entry,
          block: (done + i) / 4,
        });
      }
    }
  }
  return whole ? view(whole) : undefined;
}
