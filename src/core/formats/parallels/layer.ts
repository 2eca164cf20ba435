/**
 * A Parallels image (block/parallels.c): guest cluster i lives where BAT entry i says, or nowhere
 * (entry 0: unallocated, the backing file or zeros). Read-only; `check` counts as qemu-img check.
 */
import { checkResult } from '../../check.ts';
import { readStored, readStoredInto } from '../extents.ts';
import { DiskImgError } from '../../errors.ts';
import type { CheckResult, Extent, FormatFacts, Layer } from '../../image.ts';
import type { Storage } from '../../storage/storage.ts';
import { checkExtension } from './extension.ts';
import { HEADER_BYTES, parseHeader, type ParallelsHeader } from './header.ts';

const SECTOR = 512;
/** BAT entries loaded at most (16 Mi entries, 64 MiB: a 16 TiB disk in 1 MiB clusters). */
const MAX_LOADED_ENTRIES = 1 << 24;
/** A larger cluster is not handed to conversion as its alignment. */
const MAX_ALIGNMENT = 2 << 20;

export class ParallelsLayer implements Layer {
  readonly format = 'parallels';
  readonly virtualSize: number;
  readonly clusterSize?: number;
  private readonly clusterBytes: number;

  private constructor(
    readonly storage: Storage,
    readonly header: ParallelsHeader,
    /** The BAT entries within the file (those past its end read as 0). */
    private readonly bat: Uint32Array,
  ) {
    this.virtualSize = header.sectors * SECTOR;
    this.clusterBytes = header.tracks * SECTOR;
    if (this.clusterBytes <= MAX_ALIGNMENT) this.clusterSize = this.clusterBytes;
  }

  static async open(storage: Storage): Promise<ParallelsLayer> {
    const header = parseHeader(await storage.read(0, HEADER_BYTES));
    // QEMU checks the Format Extension when it opens an image read-only, as qemu-img does.
    if (header.extensionSector !== 0) await checkExtension(storage, header.extensionSector * SECTOR, header.tracks * SECTOR);
    // Only entries inside the file can be non-zero: never allocate for the ones past its end.
    const inFile = Math.max(0, Math.ceil((storage.size - HEADER_BYTES) / 4));
    const count = Math.min(header.batEntries, inFile);
    if (count > MAX_LOADED_ENTRIES) {
      throw new DiskImgError(
        'limit',
        `Parallels BAT of ${header.batEntries} entries is larger than diskimg reads (${MAX_LOADED_ENTRIES})`,
        { file: storage.name, field: 'bat_entries', offset: 32, value: header.batEntries },
      );
    }
    const bytes = await storage.read(HEADER_BYTES, count * 4);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const bat = new Uint32Array(count);
    for (let i = 0; i < count; i++) bat[i] = view.getUint32(i * 4, true);
    return new ParallelsLayer(storage, header, bat);
  }

  /** The host byte offset of BAT entry i's cluster, 0 when unallocated. */
  private clusterOffset(index: number): number {
    const entry = index < this.bat.length ? this.bat[index] : 0;
    return entry * this.header.offsetMultiplier * SECTOR;
  }

  describe(): Promise<FormatFacts> {
    // qemu-img info shows no dirty flag for parallels (the driver has no bdrv_get_info).
    return Promise.resolve({ 'dirty-flag': undefined });
  }

  async *mappings(start: number, end: number): AsyncGenerator<Extent> {
    end = Math.min(end, this.virtualSize);
    let pending: Extent | undefined;
    let guest = start;
    while (guest < end) {
      const index = Math.floor(guest / this.clusterBytes);
      // Past the BAT entries held, everything is unallocated: one piece, not one per cluster.
      const pieceEnd = index >= this.bat.length ? end : Math.min(end, (index + 1) * this.clusterBytes);
      const cluster = this.clusterOffset(index);
      const next: Extent =
        cluster === 0
          ? { start: guest, length: pieceEnd - guest, kind: 'unallocated', depth: 0 }
          : { start: guest, length: pieceEnd - guest, kind: 'data', depth: 0, hostOffset: cluster + (guest - index * this.clusterBytes) };
      if (
        pending &&
        pending.kind === next.kind &&
        (next.hostOffset === undefined || pending.hostOffset! + pending.length === next.hostOffset)
      )
        pending.length += next.length;
      else {
        if (pending) yield pending;
        pending = next;
      }
      guest = pieceEnd;
    }
    if (pending) yield pending;
  }

  readExtent(extent: Extent, start: number, length: number): Promise<Uint8Array> {
    return readStored(this.storage, extent, start, length);
  }

  readExtentInto(extent: Extent, start: number, target: Uint8Array): Promise<void> {
    return readStoredInto(this.storage, extent, start, target);
  }

  /** parallels_co_check without repairs: the unclean flag, clusters past the end, leaked space. */
  async check(): Promise<CheckResult> {
    const size = Math.ceil(this.storage.size / SECTOR) * SECTOR;
    const messages: string[] = [];
    let corruptions = 0;
    if (this.header.inUse) {
      messages.push('ERROR image was not closed correctly');
      corruptions++;
    }
    let allocated = 0;
    let fragmented = 0;
    let high = 0;
    let previous = 0;
    for (let i = 0; i < this.bat.length; i++) {
      const offset = this.clusterOffset(i);
      if (offset === 0) {
        previous = 0;
        continue;
      }
      if (offset > size) {
        messages.push(`ERROR cluster ${i} is outside image`);
        corruptions++;
      }
      allocated++;
      high = Math.max(high, offset);
      if (previous !== 0 && previous + this.clusterBytes !== offset) fragmented++;
      previous = offset;
    }
    const end = high + this.clusterBytes;
    let leaks = 0;
    if (size > end) {
      leaks = Math.ceil((size - end) / this.clusterBytes);
      messages.push(`ERROR space leaked at the end of the image ${size - end}`);
    }
    return checkResult(this, {
      corruptions,
      leaks,
      'image-end-offset': end,
      'total-clusters': this.header.batEntries,
      'allocated-clusters': allocated,
      'fragmented-clusters': fragmented,
      messages,
    });
  }
}
