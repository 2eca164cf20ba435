/**
 * A VDI file as one layer: the block map says where each 1 MiB block lives (qemu's block/vdi.c).
 * An unallocated or discarded block reads as zeros (VDI has no backing file in qemu); a static
 * image has every block allocated.
 */
import { checkResult } from '../../check.ts';
import { DiskImgError } from '../../errors.ts';
import type { CheckResult, Extent, FormatFacts, Layer } from '../../image.ts';
import type { Storage } from '../../storage/storage.ts';
import { merged, readStored, readStoredInto } from '../extents.ts';
import { TablePages } from '../tables.ts';
import { BLOCK_SIZE, DISCARDED, TYPE_NAMES, parseHeader, type VdiHeader } from './header.ts';

export class VdiLayer implements Layer {
  readonly format = 'vdi';
  readonly clusterSize = BLOCK_SIZE;
  private readonly bmap: TablePages;

  private constructor(
    readonly storage: Storage,
    readonly header: VdiHeader,
  ) {
    this.bmap = new TablePages(storage);
  }

  static async open(storage: Storage): Promise<VdiLayer> {
    const header = parseHeader(await storage.read(0, 512));
    // qemu reads the whole map (past the end of the file as zeros); a real image always holds it.
    const bmapEnd = header.offsetBmap + header.blocksInImage * 4;
    if (bmapEnd > storage.size) {
      throw new DiskImgError(
        'corrupt',
        `VDI block map (${header.blocksInImage} entries at offset 0x${header.offsetBmap.toString(16)}) runs past the end of the file (${storage.size} bytes)`,
        {
          file: storage.name,
          field: 'blocks_in_image',
          offset: 0x180,
          value: header.blocksInImage,
        },
      );
    }
    return new VdiLayer(storage, header);
  }

  get virtualSize(): number {
    return this.header.diskSize;
  }

  /** 'dynamic' or 'static' (qemu-img's -o static=on), as VirtualBox names the image type. */
  get subformat(): string {
    return TYPE_NAMES[this.header.imageType] ?? `type ${this.header.imageType}`;
  }

  describe(): Promise<FormatFacts> {
    return Promise.resolve({ 'cluster-size': BLOCK_SIZE });
  }

  private entry(block: number): Promise<number> {
    return this.bmap.u32le(this.header.offsetBmap + block * 4);
  }

  mappings(start: number, end: number): AsyncGenerator<Extent> {
    return merged(this.pieces(start, Math.min(end, this.virtualSize)));
  }

  private async *pieces(start: number, end: number): AsyncGenerator<Extent> {
    let guest = start;
    while (guest < end) {
      const block = Math.floor(guest / BLOCK_SIZE);
      const inBlock = guest - block * BLOCK_SIZE;
      const length = Math.min(end, (block + 1) * BLOCK_SIZE) - guest;
      const entry = await this.entry(block);
      // Never allocated or discarded: zeros (qemu's BDRV_BLOCK_ZERO).
      if (entry >= DISCARDED) yield { start: guest, length, kind: 'zero', depth: 0 };
      else yield { start: guest, length, kind: 'data', depth: 0, hostOffset: this.header.offsetData + entry * BLOCK_SIZE + inBlock };
      guest += length;
    }
  }

  readExtent(extent: Extent, start: number, length: number): Promise<Uint8Array> {
    return readStored(this.storage, extent, start, length);
  }

  readExtentInto(extent: Extent, start: number, target: Uint8Array): Promise<void> {
    return readStoredInto(this.storage, extent, start, target);
  }

  /** qemu-img check: every allocated entry names a block inside the image, once; the count matches. */
  async check(): Promise<CheckResult> {
    const h = this.header;
    const messages: string[] = [];
    let corruptions = 0;
    let allocated = 0;
    const used = new Uint8Array(Math.ceil(h.blocksInImage / 8));
    for (let block = 0; block < h.blocksInImage; block++) {
      const entry = await this.entry(block);
      if (entry >= DISCARDED) continue;
      if (entry < h.blocksInImage) {
        allocated++;
        const bit = 1 << (entry & 7);
        if (used[entry >>> 3] & bit) {
          messages.push(`ERROR: block index ${entry} also used by ${entry}`);
          corruptions++;
        } else used[entry >>> 3] |= bit;
      } else {
        messages.push(`ERROR: block index ${block} too large, is ${entry}`);
        corruptions++;
      }
    }
    if (allocated !== h.blocksAllocated) {
      messages.push(`ERROR: allocated blocks mismatch, is ${allocated}, should be ${h.blocksAllocated}`);
      corruptions++;
    }
    return checkResult(this, { corruptions, messages });
  }
}
