/**
 * A VMDK disk as one layer: its extents laid end to end (QEMU's find_extent), each flat or sparse,
 * read and reported as block/vmdk.c reads and reports them (vmdk_co_block_status, vmdk_co_preadv).
 */
import { merged } from '../extents.ts';
import { hex } from '../../bytes.ts';
import { DiskImgError } from '../../errors.ts';
import type { CheckResult, Extent, FormatFacts, Layer } from '../../image.ts';
import { readInto, type Storage } from '../../storage/storage.ts';
import { type VmdkExtent } from './extent.ts';
import { GrainInflater, MARKER_HEADER } from './grain.ts';
import { checkVmdk } from './check.ts';

/** A compressed grain is decoded whole into memory; QEMU allows 1 GiB grains, we do not. */
const MAX_COMPRESSED_GRAIN = 16 * 1024 * 1024;

export interface VmdkDescription {
  cid: number;
  parentCid: number;
  createType: string;
  backingFilename?: string;
}

export class VmdkLayer implements Layer {
  readonly format = 'vmdk';
  readonly virtualSize: number;
  readonly backingFilename?: string;
  readonly backingFormat?: string;
  readonly cid: number;
  readonly parentCid: number;
  readonly createType: string;

  get subformat(): string {
    return this.createType;
  }
  private inflater?: GrainInflater;
  private lastGrain?: { storage: Storage; hostOffset: number; bytes: Uint8Array };

  constructor(
    readonly storage: Storage,
    readonly extents: readonly VmdkExtent[],
    description: VmdkDescription,
  ) {
    this.virtualSize = extents.reduce((sum, e) => sum + e.length, 0);
    this.cid = description.cid;
    this.parentCid = description.parentCid;
    this.createType = description.createType;
    if (description.backingFilename !== undefined) {
      this.backingFilename = description.backingFilename;
      this.backingFormat = 'vmdk';
    }
  }

  get clusterSize(): number | undefined {
    const first = this.extents[0];
    return first && !first.flat ? first.grainBytes : undefined;
  }

  get otherFiles(): readonly string[] {
    return this.extents.filter((e) => e.ownsStorage).map((e) => e.storage.name);
  }

  /** The extent files, whose allocated bytes count in qemu-img info's disk size. */
  get extraStorages(): readonly Storage[] {
    return this.extents.filter((e) => e.ownsStorage).map((e) => e.storage);
  }

  hostFile(extent: Extent): string | undefined {
    return this.extentAt(extent.start)?.storage.name;
  }

  async close(): Promise<void> {
    for (const extent of this.extents) if (extent.ownsStorage) await extent.storage.close?.().catch(() => {});
  }

  describe(): Promise<FormatFacts> {
    const facts: FormatFacts = {};
    const first = this.extents[0];
    // vmdk_co_get_info: a cluster size only when every extent is of the first one's kind.
    const alike = this.extents.every(
      (e) => e.flat === first.flat && (e.flat || (!first.flat && e.compressed === first.compressed && e.grainBytes === first.grainBytes)),
    );
    if (first && !first.flat && alike) facts['cluster-size'] = first.grainBytes;
    facts['format-specific'] = {
      type: 'vmdk',
      data: {
        cid: this.cid,
        'parent-cid': this.parentCid,
        'create-type': this.createType,
        extents: this.extents.map((e) => {
          const info: Record<string, unknown> = { 'virtual-size': e.length, filename: e.storage.name, format: e.type };
          if (!e.flat) info['cluster-size'] = e.grainBytes;
          if (!e.flat && e.compressed) info.compressed = true;
          return info;
        }),
      },
    };
    return Promise.resolve(facts);
  }

  /** vmdk_is_cid_valid: a backing file that is not a VMDK, or whose CID is not our parentCID, cannot be read through us. */
  backingReadError(backing: Layer): Error | undefined {
    const parentCid = backing instanceof VmdkLayer ? backing.cid : undefined;
    if (parentCid === this.parentCid) return undefined;
    const why =
      parentCid === undefined
        ? `its backing file '${backing.storage.name}' is not a VMDK`
        : `its parentCID ${this.parentCid.toString(16)} is not the CID ${parentCid.toString(16)} of '${backing.storage.name}'`;
    return new DiskImgError('corrupt', `Invalid argument: '${this.storage.name}' cannot read its backing file: ${why}`, {
      file: this.storage.name,
      field: 'parentCID',
      value: this.parentCid,
    });
  }

  check(): Promise<CheckResult> {
    return checkVmdk(this);
  }

  extentAt(guest: number): VmdkExtent | undefined {
    for (const extent of this.extents) if (guest >= extent.start && guest < extent.start + extent.length) return extent;
    return undefined;
  }

  async *mappings(start: number, end: number): AsyncGenerator<Extent> {
    end = Math.min(end, this.virtualSize);
    for (const vmdkExtent of this.extents) {
      const from = Math.max(start, vmdkExtent.start);
      const to = Math.min(end, vmdkExtent.start + vmdkExtent.length);
      if (from >= to) continue;
      // Pieces merge within one extent only: the next extent is another file.
      yield* merged(this.extentPieces(vmdkExtent, from, to));
    }
  }

  /** The grains of one extent over guest [from, to), a grain table's worth at once where it has none. */
  private async *extentPieces(e: VmdkExtent, from: number, to: number): AsyncGenerator<Extent> {
    if (e.flat) {
      // Past the end of its file a flat extent reads as zeros: QEMU's block status (recursing into
      // the file) says zero there.
      const fileEnd = e.start + Math.max(0, e.storage.size - e.flatOffset);
      if (from < Math.min(to, fileEnd))
        yield { start: from, length: Math.min(to, fileEnd) - from, kind: 'data', depth: 0, hostOffset: e.flatOffset + (from - e.start) };
      const zeroFrom = Math.max(from, fileEnd);
      if (zeroFrom < to)
        yield { start: zeroFrom, length: to - zeroFrom, kind: 'zero', depth: 0, hostOffset: e.flatOffset + (zeroFrom - e.start) };
      return;
    }
    let guest = from;
    while (guest < to) {
      const rel = guest - e.start;
      const tableIndex = Math.floor(rel / e.tableCoverage);
      if (tableIndex < e.gdEntries && e.gdEntry(tableIndex) === 0) {
        const tableEnd = Math.min(to, e.start + (tableIndex + 1) * e.tableCoverage);
        yield { start: guest, length: tableEnd - guest, kind: 'unallocated', depth: 0 };
        guest = tableEnd;
        continue;
      }
      const grainStart = e.start + Math.floor(rel / e.grainBytes) * e.grainBytes;
      const grainEnd = Math.min(to, grainStart + e.grainBytes);
      const length = grainEnd - guest;
      const status = await e.grain(rel);
      if (status.kind === 'data') {
        if (e.compressed)
          yield {
            start: guest,
            length,
            kind: 'compressed',
            depth: 0,
            hostOffset: status.hostOffset,
            compressedLength: 2 * e.grainBytes,
            clusterStart: grainStart,
          };
        else yield { start: guest, length, kind: 'data', depth: 0, hostOffset: status.hostOffset + (guest - grainStart) };
      } else yield { start: guest, length, kind: status.kind, depth: 0 };
      guest = grainEnd;
    }
  }

  async readExtent(extent: Extent, start: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.readExtentInto(extent, start, out);
    return out;
  }

  async readExtentInto(extent: Extent, start: number, target: Uint8Array): Promise<void> {
    if (extent.kind !== 'data' && extent.kind !== 'compressed') {
      target.fill(0);
      return;
    }
    const vmdkExtent = this.extentAt(extent.start);
    if (!vmdkExtent)
      throw new DiskImgError('usage', `No VMDK extent holds guest offset ${start}`, { file: this.storage.name, offset: start });
    if (extent.kind === 'data') {
      await readInto(vmdkExtent.storage, extent.hostOffset! + (start - extent.start), target);
      return;
    }
    const grain = await this.decodeGrain(vmdkExtent, extent);
    const from = start - extent.clusterStart!;
    if (from + target.length > grain.length) {
      throw new DiskImgError(
        'corrupt',
        `Compressed VMDK grain at host offset ${hex(extent.hostOffset!)} holds ${grain.length} bytes, not the ${from + target.length} read from it`,
        { file: vmdkExtent.storage.name, offset: extent.hostOffset, field: 'compressed grain' },
      );
    }
    target.set(grain.subarray(from, from + target.length));
  }

  /** vmdk_read_extent for a compressed extent: two grains' worth read, the marker's size of it inflated. */
  private async decodeGrain(e: VmdkExtent, extent: Extent): Promise<Uint8Array> {
    const hostOffset = extent.hostOffset!;
    if (this.lastGrain?.storage === e.storage && this.lastGrain.hostOffset === hostOffset) return this.lastGrain.bytes;
    if (e.flat) throw new DiskImgError('usage', 'A flat VMDK extent has no compressed grains', { file: e.storage.name });
    const grainBytes = e.grainBytes;
    const where = { file: e.storage.name, offset: hostOffset, field: 'compressed grain' };
    if (grainBytes > MAX_COMPRESSED_GRAIN)
      throw new DiskImgError(
        'limit',
        `Compressed VMDK grains of ${grainBytes} bytes are larger than the ${MAX_COMPRESSED_GRAIN} bytes read`,
        { ...where, field: 'grainSize' },
      );
    const inFile = Math.max(0, Math.min(2 * grainBytes, e.storage.size - hostOffset));
    const buffer = inFile > 0 ? await e.storage.read(hostOffset, inFile) : new Uint8Array(0);
    let input: Uint8Array;
    if (e.hasMarker) {
      const size = buffer.length >= MARKER_HEADER ? (buffer[8] | (buffer[9] << 8) | (buffer[10] << 16)) + buffer[11] * 0x1000000 : 0;
      if (size === 0 || size > 2 * grainBytes)
        throw new DiskImgError('corrupt', `Compressed VMDK grain at host offset ${hex(hostOffset)} has a marker size of ${size} bytes`, {
          ...where,
          field: 'grain marker size',
          value: size,
        });
      input = buffer.subarray(MARKER_HEADER, MARKER_HEADER + size);
    } else input = buffer.subarray(0, grainBytes);
    const out = new Uint8Array(grainBytes);
    this.inflater ??= new GrainInflater();
    const produced = this.inflater.inflate(input, out);
    if (produced === null)
      throw new DiskImgError(
        'corrupt',
        `Compressed VMDK grain at host offset ${hex(hostOffset)} (guest offset ${hex(extent.clusterStart!)}) does not decompress`,
        where,
      );
    const bytes = out.subarray(0, produced);
    this.lastGrain = { storage: e.storage, hostOffset, bytes };
    return bytes;
  }
}
