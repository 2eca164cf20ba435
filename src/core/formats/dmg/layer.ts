/**
 * A UDIF disk image (.dmg) as block/dmg.c reads it: the guest disk in chunks, each zeros, raw
 * bytes or one compressed stream (zlib, bzip2; lzfse is refused). A sector no chunk holds fails to
 * read, as in QEMU. QEMU's dmg driver has no block status, so qemu-img map shows the whole disk as
 * data without offsets: so do we (hostFile() hides raw chunks' offsets; zero chunks are data
 * extents without a host offset).
 */
import { DiskImgError } from '../../errors.ts';
import type { Extent, FormatFacts, Layer } from '../../image.ts';
import type { Storage } from '../../storage/storage.ts';
import { ZlibBlockInflater } from '../cloop/zlib-block.ts';
import { bunzip2Into, Bzip2Error } from './bzip2.ts';
import { CHUNK_BZIP2, CHUNK_IGNORE, CHUNK_LZFSE, CHUNK_RAW, CHUNK_ZERO, CHUNK_ZLIB, readTables, type Chunk } from './tables.ts';

const SECTOR = 512;

/** An extent of one chunk (its index), or of sectors no chunk holds (-1). */
interface DmgExtent extends Extent {
  chunk?: number;
}

export class DmgLayer implements Layer {
  readonly format = 'dmg';
  readonly virtualSize: number;
  private readonly starts: number[];
  private readonly inflater = new ZlibBlockInflater();
  private last?: { chunk: number; bytes: Uint8Array };

  private constructor(
    readonly storage: Storage,
    sectors: number,
    private readonly chunks: Chunk[],
  ) {
    this.virtualSize = sectors * SECTOR;
    this.starts = chunks.map((c) => c.sector).sort((a, b) => a - b);
  }

  static async open(storage: Storage): Promise<DmgLayer> {
    try {
      const { sectors, chunks } = await readTables(storage);
      return new DmgLayer(storage, sectors, chunks);
    } catch (error) {
      if (error instanceof DiskImgError && !error.context.file)
        throw new DiskImgError(error.kind, error.message, { ...error.context, file: storage.name });
      throw error;
    }
  }

  get codecs(): readonly string[] {
    return [
      ...new Set(
        this.chunks
          .map((c) => (c.type === CHUNK_ZLIB ? 'zlib' : c.type === CHUNK_BZIP2 ? 'bzip2' : c.type === CHUNK_LZFSE ? 'lzfse' : ''))
          .filter(Boolean),
      ),
    ];
  }

  describe(): Promise<FormatFacts> {
    // qemu-img info shows no dirty flag for dmg (the driver has no bdrv_get_info).
    return Promise.resolve({ 'dirty-flag': undefined });
  }

  hostFile(): string | undefined {
    return undefined;
  }

  private contains(index: number, sector: number): boolean {
    const c = this.chunks[index];
    return index >= 0 && index < this.chunks.length && c.sector <= sector && sector < c.sector + c.sectors;
  }

  /** search_chunk: QEMU's binary search over the chunks in table order. */
  private search(sector: number): number {
    let low = 0;
    let high = this.chunks.length;
    while (low !== high) {
      const mid = Math.floor((low + high) / 2);
      const c = this.chunks[mid];
      if (c.sector > sector) high = mid;
      else if (c.sector + c.sectors > sector) return mid;
      else low = mid + 1;
    }
    return -1;
  }

  async *mappings(start: number, end: number): AsyncGenerator<Extent> {
    end = Math.min(end, this.virtualSize);
    let current = -1;
    let guest = start;
    while (guest < end) {
      const sector = Math.floor(guest / SECTOR);
      // QEMU keeps reading the chunk it is in while it holds the sector, and searches otherwise.
      if (!this.contains(current, sector)) current = this.search(sector);
      if (current < 0) {
        const next = this.nextStart(sector);
        const pieceEnd = Math.min(end, next * SECTOR);
        yield { start: guest, length: pieceEnd - guest, kind: 'data', depth: 0, hostOffset: -1, chunk: -1 } as DmgExtent;
        guest = pieceEnd;
        continue;
      }
      const c = this.chunks[current];
      const chunkStart = c.sector * SECTOR;
      const pieceEnd = Math.min(end, (c.sector + c.sectors) * SECTOR);
      const length = pieceEnd - guest;
      let extent: DmgExtent;
      if (c.type === CHUNK_ZERO || c.type === CHUNK_IGNORE) extent = { start: guest, length, kind: 'data', depth: 0, chunk: current };
      else if (c.type === CHUNK_RAW)
        extent = { start: guest, length, kind: 'data', depth: 0, hostOffset: c.offset + (guest - chunkStart), chunk: current };
      else
        extent = {
          start: guest,
          length,
          kind: 'compressed',
          depth: 0,
          hostOffset: c.offset,
          compressedLength: c.length,
          clusterStart: chunkStart,
          chunk: current,
        };
      yield extent;
      guest = pieceEnd;
    }
  }

  /** The first chunk start after `sector` (for a run no chunk holds). */
  private nextStart(sector: number): number {
    let low = 0;
    let high = this.starts.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.starts[mid] <= sector) low = mid + 1;
      else high = mid;
    }
    return low < this.starts.length ? this.starts[low] : Infinity;
  }

  async readExtent(extent: Extent, start: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.readExtentInto(extent, start, out);
    return out;
  }

  async readExtentInto(extent: Extent, start: number, target: Uint8Array): Promise<void> {
    const index = (extent as DmgExtent).chunk ?? this.search(Math.floor(start / SECTOR));
    if (index < 0) {
      throw new DiskImgError(
        'corrupt',
        `No DMG chunk holds guest sector ${Math.floor(start / SECTOR)}: the image's chunk tables leave it out`,
        { file: this.storage.name, field: 'mish chunk', offset: start },
      );
    }
    const c = this.chunks[index];
    const within = start - c.sector * SECTOR;
    if (c.type === CHUNK_ZERO || c.type === CHUNK_IGNORE) {
      target.fill(0);
    } else if (c.type === CHUNK_RAW) {
      // Only `length` bytes are stored; sectors past them read as zeros.
      const stored = Math.max(0, Math.min(target.length, c.length - within));
      target.fill(0, stored);
      if (stored > 0) target.set(await this.storage.read(c.offset + within, stored));
    } else {
      const bytes = await this.decode(index);
      target.set(bytes.subarray(within, within + target.length));
    }
  }

  private async decode(index: number): Promise<Uint8Array> {
    if (this.last?.chunk === index) return this.last.bytes;
    const c = this.chunks[index];
    const where = { file: this.storage.name, field: 'mish chunk', offset: c.offset, value: index };
    if (c.type === CHUNK_LZFSE)
      throw new DiskImgError(
        'unsupported',
        `DMG chunk ${index} is LZFSE-compressed, which diskimg cannot decode (convert the image with a qemu-img built with lzfse, or with hdiutil/dmg2img)`,
        where,
      );
    const input = await this.storage.read(c.offset, c.length);
    const bytes = new Uint8Array(c.sectors * SECTOR);
    if (c.type === CHUNK_ZLIB) {
      if (!this.inflater.inflate(input, bytes))
        throw new DiskImgError(
          'corrupt',
          `DMG chunk ${index} at offset ${c.offset} does not decompress (zlib) to ${bytes.length} bytes`,
          where,
        );
    } else {
      try {
        bunzip2Into(input, bytes);
      } catch (error) {
        if (error instanceof Bzip2Error)
          throw new DiskImgError(
            'corrupt',
            `DMG chunk ${index} at offset ${c.offset} does not decompress (bzip2) to ${bytes.length} bytes: ${error.message}`,
            where,
          );
        throw error;
      }
    }
    this.last = { chunk: index, bytes };
    return bytes;
  }
}
