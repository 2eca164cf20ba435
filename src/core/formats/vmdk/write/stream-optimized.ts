/**
 * The streamOptimized VMDK writer: one sparse extent of deflated grains, each behind a grain
 * marker, in two layouts.
 *
 * - 'qemu' (a seekable sink): what `qemu-img convert -O vmdk -o subformat=streamOptimized` writes
 *   (block/vmdk.c, vmdk_init_extent and vmdk_write_extent): header, a 20-sector descriptor, the
 *   redundant grain directory and its grain tables, the grain directory and its tables, grains
 *   from sector 128 in guest order, each starting on a sector; the tables are filled in as grains
 *   land. The file ends a whole grain (128 sectors) past the last grain's start, as QEMU's
 *   allocation of that grain leaves it.
 * - 'stream' (an append-only sink, or a tar member being hashed): VMware's stream form, every
 *   byte in order — the header says the grain directory is at the end (GD_AT_END); each grain
 *   table follows its grains behind a grain-table marker, then a grain-directory marker and the
 *   directory, a footer marker, the footer (a copy of the header with the real directory offset)
 *   and the end-of-stream marker. QEMU, VMware and VirtualBox read both.
 *
 * Memory: one grain table (2 KiB) in the 'qemu' layout; in the 'stream' layout also the grain
 * directory, 4 bytes per 32 MiB of virtual size.
 */
import { DiskImgError } from '../../../errors.ts';
import type { Sink } from '../../../sink.ts';
import { COMPRESSION_DEFLATE, FLAG_COMPRESS, FLAG_MARKER, FLAG_RGD, FLAG_ZERO_GRAIN, KDMV } from '../sparse-header.ts';

export const SECTOR = 512;
/** granularity: 128 sectors (64 KiB) per grain, as QEMU creates them. */
export const GRAIN_SECTORS = 128;
export const GRAIN_SIZE = GRAIN_SECTORS * SECTOR;
/** num_gtes_per_gt: 512 grains (32 MiB of guest) per grain table. */
const GTES_PER_GT = 512;
const GT_SECTORS = (GTES_PER_GT * 4) / SECTOR;
const DESCRIPTOR_OFFSET = 1;
const DESCRIPTOR_SECTORS = 20;
const FLAG_NL_DETECT = 1 << 0;
/** A grain marker: lba (u64), size (u32), then the deflated grain. */
const GRAIN_MARKER = 12;
const MARKER_GRAIN_TABLE = 1;
const MARKER_GRAIN_DIRECTORY = 2;
const MARKER_FOOTER = 3;
/** Grain table entries and directory entries are 32-bit sector numbers: a file ends before 2 TiB. */
const MAX_SECTOR = 0xffffffff;
const ZEROS = new Uint8Array(SECTOR);

export type StreamOptimizedLayoutKind = 'qemu' | 'stream';

/** What goes in the descriptor and header; qemu-img's -o options, already checked. */
export interface StreamOptimizedSettings {
  /** ddb.adapterType: ide, buslogic, lsilogic or legacyESX (heads 16 for ide, else 255). */
  adapterType: string;
  /** ddb.virtualHWVersion. */
  hwVersion: string;
  /** ddb.toolsVersion. */
  toolsVersion: string;
  /** zeroed_grain: only a header flag here (a converted stream never writes zero grains). */
  zeroedGrain: boolean;
  /** The descriptor's CID: QEMU draws it at random (g_random_int). */
  cid: number;
  /** The extent's file name in the descriptor: QEMU writes the output's base name. */
  extentName: string;
}

/** Where everything goes, in sectors, from the virtual size (vmdk_init_extent's arithmetic). */
export interface StreamOptimizedLayout {
  capacity: number;
  grains: number;
  gtCount: number;
  gdSectors: number;
  rgdOffset: number;
  gdOffset: number;
  grainOffset: number;
}

export function streamOptimizedLayout(virtualSize: number): StreamOptimizedLayout {
  const capacity = Math.ceil(virtualSize / SECTOR);
  const grains = Math.ceil(capacity / GRAIN_SECTORS);
  const gtCount = Math.ceil(grains / GTES_PER_GT);
  const gdSectors = Math.ceil((gtCount * 4) / SECTOR);
  const rgdOffset = DESCRIPTOR_OFFSET + DESCRIPTOR_SECTORS;
  const gdOffset = rgdOffset + gdSectors + GT_SECTORS * gtCount;
  const grainOffset = Math.ceil((gdOffset + gdSectors + GT_SECTORS * gtCount) / GRAIN_SECTORS) * GRAIN_SECTORS;
  return { capacity, grains, gtCount, gdSectors, rgdOffset, gdOffset, grainOffset };
}

const setU64 = (v: DataView, at: number, value: number) => {
  v.setUint32(at, value % 0x1_0000_0000, true);
  v.setUint32(at + 4, Math.floor(value / 0x1_0000_0000), true);
};

/** The 512-byte sparse extent header; gdOffset undefined writes GD_AT_END. */
function headerSector(
  layout: StreamOptimizedLayout,
  settings: StreamOptimizedSettings,
  kind: StreamOptimizedLayoutKind,
  gdOffset: number | undefined,
): Uint8Array {
  const bytes = new Uint8Array(SECTOR);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, KDMV, false);
  v.setUint32(4, 3, true);
  v.setUint32(
    8,
    FLAG_NL_DETECT | (kind === 'qemu' ? FLAG_RGD : 0) | (settings.zeroedGrain ? FLAG_ZERO_GRAIN : 0) | FLAG_COMPRESS | FLAG_MARKER,
    true,
  );
  setU64(v, 12, layout.capacity);
  setU64(v, 20, GRAIN_SECTORS);
  setU64(v, 28, DESCRIPTOR_OFFSET);
  setU64(v, 36, DESCRIPTOR_SECTORS);
  v.setUint32(44, GTES_PER_GT, true);
  setU64(v, 48, kind === 'qemu' ? layout.rgdOffset : 0);
  if (gdOffset === undefined) {
    v.setUint32(56, 0xffffffff, true);
    v.setUint32(60, 0xffffffff, true);
  } else setU64(v, 56, gdOffset);
  setU64(v, 64, layout.grainOffset);
  bytes.set([0x0a, 0x20, 0x0d, 0x0a], 73);
  v.setUint16(77, COMPRESSION_DEFLATE, true);
  return bytes;
}

/** The embedded descriptor, as vmdk_co_do_create prints it. */
export function descriptorText(layout: StreamOptimizedLayout, settings: StreamOptimizedSettings): string {
  const heads = settings.adapterType === 'ide' ? 16 : 255;
  const cylinders = Math.floor((layout.capacity * SECTOR) / (63 * heads * SECTOR));
  return (
    '# Disk DescriptorFile\n' +
    'version=1\n' +
    `CID=${(settings.cid >>> 0).toString(16)}\n` +
    'parentCID=ffffffff\n' +
    'createType="streamOptimized"\n' +
    '\n' +
    '# Extent description\n' +
    `RW ${layout.capacity} SPARSE "${settings.extentName}"\n` +
    '\n' +
    '# The Disk Data Base\n' +
    '#DDB\n' +
    '\n' +
    `ddb.virtualHWVersion = "${settings.hwVersion}"\n` +
    `ddb.geometry.cylinders = "${cylinders}"\n` +
    `ddb.geometry.heads = "${heads}"\n` +
    'ddb.geometry.sectors = "63"\n' +
    `ddb.adapterType = "${settings.adapterType}"\n` +
    `ddb.toolsVersion = "${settings.toolsVersion}"\n`
  );
}

/** A marker sector: val (u64), size 0, type. */
function markerSector(val: number, type: number): Uint8Array {
  const bytes = new Uint8Array(SECTOR);
  const v = new DataView(bytes.buffer);
  setU64(v, 0, val);
  v.setUint32(12, type, true);
  return bytes;
}

export interface StreamOptimizedResult {
  /** The file's length in bytes. */
  length: number;
  /** Grains written (allocated): the populated size is this many grains. */
  grains: number;
  layout: StreamOptimizedLayoutKind;
}

export class StreamOptimizedWriter {
  /** Where the next grain starts, in bytes (always on a sector). */
  private position: number;
  private tableIndex = 0;
  private table = new Uint32Array(GTES_PER_GT);
  private tableUsed = false;
  private lastGrainSector = -1;
  /** The stream layout's grain directory, filled as tables are written. */
  private readonly directory: Uint32Array | undefined;
  private grains = 0;
  private nextGrain = 0;

  private constructor(
    private readonly sink: Sink,
    readonly layout: StreamOptimizedLayout,
    private readonly settings: StreamOptimizedSettings,
    readonly kind: StreamOptimizedLayoutKind,
  ) {
    this.position = layout.grainOffset * SECTOR;
    this.directory = kind === 'stream' ? new Uint32Array(layout.gtCount) : undefined;
  }

  /** Writes the header and descriptor (and, in the qemu layout, both grain directories). */
  static async create(
    sink: Sink,
    virtualSize: number,
    settings: StreamOptimizedSettings,
    kind: StreamOptimizedLayoutKind,
  ): Promise<StreamOptimizedWriter> {
    let layout = streamOptimizedLayout(virtualSize);
    // The stream form keeps no tables in front: its grains start right after the descriptor.
    if (kind === 'stream')
      layout = {
        ...layout,
        rgdOffset: 0,
        gdOffset: 0,
        grainOffset: Math.ceil((DESCRIPTOR_OFFSET + DESCRIPTOR_SECTORS) / GRAIN_SECTORS) * GRAIN_SECTORS,
      };
    const writer = new StreamOptimizedWriter(sink, layout, settings, kind);
    const head = new Uint8Array((kind === 'qemu' ? DESCRIPTOR_OFFSET + DESCRIPTOR_SECTORS : layout.grainOffset) * SECTOR);
    head.set(headerSector(layout, settings, kind, kind === 'qemu' ? layout.gdOffset : undefined));
    const descriptor = new TextEncoder().encode(descriptorText(layout, settings));
    head.set(descriptor.subarray(0, DESCRIPTOR_SECTORS * SECTOR), DESCRIPTOR_OFFSET * SECTOR);
    if (kind === 'qemu') await sink.truncate?.(layout.grainOffset * SECTOR);
    await sink.write(0, head);
    if (kind === 'qemu') {
      // Both directories point at their tables, which stay holes until grains land in them.
      for (const start of [layout.rgdOffset, layout.gdOffset]) {
        const directory = new Uint8Array(layout.gdSectors * SECTOR);
        const v = new DataView(directory.buffer);
        for (let i = 0; i < layout.gtCount; i++) v.setUint32(i * 4, start + layout.gdSectors + i * GT_SECTORS, true);
        await sink.write(start * SECTOR, directory);
      }
    }
    return writer;
  }

  /** The deflated grain `index` (guest offset index × 64 KiB), grains in ascending order. */
  async writeGrain(index: number, deflated: Uint8Array): Promise<void> {
    if (index < this.nextGrain || index >= this.layout.grains)
      throw new RangeError(`grain ${index} out of order or past the disk's ${this.layout.grains} grains`);
    this.nextGrain = index + 1;
    const table = Math.floor(index / GTES_PER_GT);
    if (table !== this.tableIndex) {
      await this.flushTable();
      this.tableIndex = table;
    }
    const sectors = Math.ceil((GRAIN_MARKER + deflated.length) / SECTOR);
    const marker = new Uint8Array(GRAIN_MARKER);
    const v = new DataView(marker.buffer);
    setU64(v, 0, index * GRAIN_SECTORS);
    v.setUint32(8, deflated.length, true);
    const sector = this.position / SECTOR;
    if (sector + sectors > MAX_SECTOR)
      throw new DiskImgError('limit', `The VMDK would pass 2 TiB at grain ${index}: its grain tables hold 32-bit sector numbers`, {
        field: 'grain',
        value: index,
      });
    // Marker, grain, zeros to the sector's end: three writes the caller's CoalescingSink joins, no copy here.
    await this.sink.write(this.position, marker);
    await this.sink.write(this.position + GRAIN_MARKER, deflated);
    const pad = sectors * SECTOR - GRAIN_MARKER - deflated.length;
    if (pad > 0) await this.sink.write(this.position + GRAIN_MARKER + deflated.length, ZEROS.subarray(0, pad));
    this.table[index % GTES_PER_GT] = sector;
    this.tableUsed = true;
    this.lastGrainSector = sector;
    this.position += sectors * SECTOR;
    this.grains++;
  }

  private async flushTable(): Promise<void> {
    if (!this.tableUsed) return;
    const bytes = new Uint8Array(this.table.buffer.slice(0));
    if (this.kind === 'qemu') {
      // Both copies, as vmdk_L2update keeps them.
      const { rgdOffset, gdOffset, gdSectors } = this.layout;
      for (const start of [rgdOffset, gdOffset]) await this.sink.write((start + gdSectors + this.tableIndex * GT_SECTORS) * SECTOR, bytes);
    } else {
      if (this.position / SECTOR + 1 + GT_SECTORS > MAX_SECTOR)
        throw new DiskImgError(
          'limit',
          `The VMDK would pass 2 TiB at grain table ${this.tableIndex}: its grain directory holds 32-bit sector numbers`,
          { field: 'grain table', value: this.tableIndex },
        );
      await this.sink.write(this.position, markerSector(GT_SECTORS, MARKER_GRAIN_TABLE));
      this.directory![this.tableIndex] = this.position / SECTOR + 1;
      await this.sink.write(this.position + SECTOR, bytes);
      this.position += SECTOR + bytes.length;
    }
    this.table.fill(0);
    this.tableUsed = false;
  }

  async finish(): Promise<StreamOptimizedResult> {
    await this.flushTable();
    let length: number;
    if (this.kind === 'qemu') {
      length =
        this.grains > 0 ? Math.max(this.position, (this.lastGrainSector + GRAIN_SECTORS) * SECTOR) : this.layout.grainOffset * SECTOR;
      await this.sink.truncate?.(length);
    } else {
      const { gdSectors } = this.layout;
      await this.sink.write(this.position, markerSector(gdSectors, MARKER_GRAIN_DIRECTORY));
      const gdSector = this.position / SECTOR + 1;
      const directory = new Uint8Array(gdSectors * SECTOR);
      directory.set(new Uint8Array(this.directory!.buffer));
      await this.sink.write(gdSector * SECTOR, directory);
      this.position = (gdSector + gdSectors) * SECTOR;
      const tail = new Uint8Array(3 * SECTOR);
      tail.set(markerSector(1, MARKER_FOOTER));
      tail.set(headerSector(this.layout, this.settings, 'stream', gdSector), SECTOR);
      // The third sector stays zero: the end-of-stream marker.
      await this.sink.write(this.position, tail);
      length = this.position + tail.length;
    }
    return { length, grains: this.grains, layout: this.kind };
  }
}
