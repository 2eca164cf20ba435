/**
 * A Bochs growing image (block/bochs.c): the disk in extents; the catalog names each allocated
 * extent's slot in the data area, where a sector bitmap precedes the extent's sectors. A sector
 * whose extent or bitmap bit is clear reads as zeros.
 *
 * QEMU's bochs driver has no block status: qemu-img map reports the whole disk as data with no
 * host offset. So do we — unallocated sectors are data extents without a host offset (zeros), and
 * hostFile() hides the offsets of the allocated ones.
 */
import { DiskImgError } from '../../errors.ts';
import { merged } from '../extents.ts';
import type { Extent, FormatFacts, Layer } from '../../image.ts';
import { readInto, type Storage } from '../../storage/storage.ts';
import { HEADER_BYTES, parseHeader, type BochsHeader } from './header.ts';

const SECTOR = 512;
const FREE = 0xffffffff;

export class BochsLayer implements Layer {
  readonly format = 'bochs';
  readonly virtualSize: number;
  private readonly dataOffset: number;
  private readonly bitmapBlocks: number;
  private readonly extentBlocks: number;

  private constructor(
    readonly storage: Storage,
    readonly header: BochsHeader,
    private readonly catalog: Uint32Array,
  ) {
    this.virtualSize = Math.floor(header.diskBytes / SECTOR) * SECTOR;
    this.dataOffset = header.headerSize + header.catalogEntries * 4;
    // QEMU's unsigned arithmetic: a bitmap size of 0 wraps to a huge block count (its reads then miss).
    this.bitmapBlocks = (1 + Math.floor(((header.bitmapBytes - 1) >>> 0) / SECTOR)) >>> 0;
    this.extentBlocks = 1 + Math.floor((header.extentBytes - 1) / SECTOR);
  }

  static async open(storage: Storage): Promise<BochsLayer> {
    const header = parseHeader(await storage.read(0, HEADER_BYTES));
    // At most 1 Mi entries (4 MiB): QEMU's own bound, checked above.
    const bytes = await storage.read(header.headerSize, header.catalogEntries * 4);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const catalog = new Uint32Array(header.catalogEntries);
    for (let i = 0; i < catalog.length; i++) catalog[i] = view.getUint32(i * 4, true);
    return new BochsLayer(storage, header, catalog);
  }

  describe(): Promise<FormatFacts> {
    // qemu-img info shows no dirty flag for bochs (the driver has no bdrv_get_info).
    return Promise.resolve({ 'dirty-flag': undefined });
  }

  hostFile(): string | undefined {
    return undefined;
  }

  mappings(start: number, end: number): AsyncGenerator<Extent> {
    return merged(this.pieces(start, Math.min(end, this.virtualSize)));
  }

  /** Extent by extent, sector by sector where its bitmap says which sectors it holds. */
  private async *pieces(start: number, end: number): AsyncGenerator<Extent> {
    const extentBytes = this.header.extentBytes;
    let guest = start;
    while (guest < end) {
      const index = Math.floor(guest / extentBytes);
      const extentStart = index * extentBytes;
      const extentEnd = Math.min(end, extentStart + extentBytes);
      const slot = this.catalog[index];
      if (slot === FREE) {
        yield { start: guest, length: extentEnd - guest, kind: 'data', depth: 0 };
        guest = extentEnd;
        continue;
      }
      const bitmapOffset = this.dataOffset + SECTOR * slot * (this.extentBlocks + this.bitmapBlocks);
      const firstSector = Math.floor((guest - extentStart) / SECTOR);
      const lastSector = Math.ceil((extentEnd - extentStart) / SECTOR);
      const bitmap = await this.storage.read(
        bitmapOffset + Math.floor(firstSector / 8),
        Math.ceil(lastSector / 8) - Math.floor(firstSector / 8),
      );
      for (let sector = firstSector; sector < lastSector; sector++) {
        const bit = (bitmap[Math.floor(sector / 8) - Math.floor(firstSector / 8)] >> (sector % 8)) & 1;
        const from = Math.max(guest, extentStart + sector * SECTOR);
        const to = Math.min(extentEnd, extentStart + (sector + 1) * SECTOR);
        const host = bitmapOffset + SECTOR * (this.bitmapBlocks + sector) + (from - extentStart - sector * SECTOR);
        yield bit
          ? { start: from, length: to - from, kind: 'data', depth: 0, hostOffset: host }
          : { start: from, length: to - from, kind: 'data', depth: 0 };
      }
      guest = extentEnd;
    }
  }

  async readExtent(extent: Extent, start: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.readExtentInto(extent, start, out);
    return out;
  }

  async readExtentInto(extent: Extent, start: number, target: Uint8Array): Promise<void> {
    if (extent.hostOffset === undefined) target.fill(0);
    else if (extent.hostOffset + (start - extent.start) > Number.MAX_SAFE_INTEGER)
      throw new DiskImgError('corrupt', 'Bochs catalog entry points past any file', {
        file: this.storage.name,
        field: 'catalog',
        value: extent.hostOffset,
      });
    else await readInto(this.storage, extent.hostOffset + (start - extent.start), target);
  }
}
