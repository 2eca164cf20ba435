/**
 * A QED file as one layer (qemu's block/qed.c): a two-level table maps guest clusters to host
 * clusters; an L2 entry of 0 asks the backing file, 1 reads as zeros.
 */
import { DiskImgError } from '../../errors.ts';
import type { CheckResult, Extent, FormatFacts, Layer } from '../../image.ts';
import type { Storage } from '../../storage/storage.ts';
import { merged, readStored, readStoredInto } from '../extents.ts';
import { TablePages } from '../tables.ts';
import { checkQed } from './check.ts';
import {
  F_BACKING_FILE,
  F_BACKING_FORMAT_NO_PROBE,
  HEADER_BYTES,
  ZERO_CLUSTER,
  backingName,
  checkBackingNameSize,
  parseHeader,
  validClusterOffset,
  validTableOffset,
  type QedHeader,
} from './header.ts';

export class QedLayer implements Layer {
  readonly format = 'qed';
  readonly tables: TablePages;

  private constructor(
    readonly storage: Storage,
    readonly header: QedHeader,
    readonly backingFilename: string | undefined,
  ) {
    this.tables = new TablePages(storage);
  }

  static async open(storage: Storage): Promise<QedLayer> {
    const header = parseHeader(await storage.read(0, HEADER_BYTES), storage.size);
    checkBackingNameSize(header);
    const name =
      header.features & F_BACKING_FILE
        ? backingName(header, await storage.read(header.backingFilenameOffset, header.backingFilenameSize))
        : undefined;
    return new QedLayer(storage, header, name);
  }

  get virtualSize(): number {
    return this.header.imageSize;
  }

  get clusterSize(): number {
    return this.header.clusterSize;
  }

  /** One L2 table's reach: qemu's block status never crosses it. */
  get statusSplit(): number {
    return this.header.l2Coverage;
  }

  /** The raw-backing feature says the backing file is raw (no probing); otherwise qemu probes it. */
  get backingFormat(): string | undefined {
    return this.backingFilename !== undefined && this.header.features & F_BACKING_FORMAT_NO_PROBE ? 'raw' : undefined;
  }

  /**
   * qemu-img 7.2 says "dirty-flag": false even while the need-check feature is set (QED does not
   * report it as dirty), so neither do we (header.features still holds F_NEED_CHECK).
   */
  describe(): Promise<FormatFacts> {
    return Promise.resolve({ 'cluster-size': this.header.clusterSize });
  }

  check(): Promise<CheckResult> {
    return checkQed(this);
  }

  l1Entry(index: number): Promise<number> {
    return this.tables.u64le(this.header.l1TableOffset + index * 8);
  }

  l2Entry(table: number, index: number): Promise<number> {
    return this.tables.u64le(table + index * 8);
  }

  mappings(start: number, end: number): AsyncGenerator<Extent> {
    return merged(this.pieces(start, Math.min(end, this.virtualSize)));
  }

  private async *pieces(start: number, end: number): AsyncGenerator<Extent> {
    const h = this.header;
    let guest = start;
    while (guest < end) {
      const l1Index = Math.floor(guest / h.l2Coverage);
      const tableStart = l1Index * h.l2Coverage;
      const tableEnd = Math.min(end, tableStart + h.l2Coverage);
      const l2 = await this.l1Entry(l1Index);
      if (l2 === 0) {
        yield { start: guest, length: tableEnd - guest, kind: 'unallocated', depth: 0 };
        guest = tableEnd;
        continue;
      }
      if (!validTableOffset(h, l2)) {
        throw new DiskImgError('corrupt', `QED L2 table offset 0x${l2.toString(16)} is invalid (L1 index ${l1Index})`, {
          file: this.storage.name,
          field: 'L1 entry',
          offset: h.l1TableOffset + l1Index * 8,
          value: l2,
        });
      }
      while (guest < tableEnd) {
        const index = Math.floor((guest - tableStart) / h.clusterSize);
        const clusterStart = tableStart + index * h.clusterSize;
        const length = Math.min(tableEnd, clusterStart + h.clusterSize) - guest;
        const entry = await this.l2Entry(l2, index);
        if (entry === 0) yield { start: guest, length, kind: 'unallocated', depth: 0 };
        else if (entry === ZERO_CLUSTER) yield { start: guest, length, kind: 'zero', depth: 0 };
        else if (validClusterOffset(h, entry))
          yield { start: guest, length, kind: 'data', depth: 0, hostOffset: entry + (guest - clusterStart) };
        else {
          throw new DiskImgError(
            'corrupt',
            `QED cluster offset 0x${entry.toString(16)} is invalid (L2 table at 0x${l2.toString(16)}, index ${index})`,
            { file: this.storage.name, field: 'L2 entry', offset: l2 + index * 8, value: entry },
          );
        }
        guest += length;
      }
    }
  }

  readExtent(extent: Extent, start: number, length: number): Promise<Uint8Array> {
    return readStored(this.storage, extent, start, length);
  }

  readExtentInto(extent: Extent, start: number, target: Uint8Array): Promise<void> {
    return readStoredInto(this.storage, extent, start, target);
  }
}
