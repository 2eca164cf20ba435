/**
 * Writes VMDK monolithicSparse (and the split and flat kinds, below) as QEMU's vmdk driver does (block/vmdk.c, qemu 7.2):
 * vmdk_init_extent writes the KDMV header, the redundant and the primary grain directories
 * pointing at grain tables laid out after each, and sets the file's length to the first grain;
 * vmdk_co_do_create writes the descriptor at sector 1. A guest write into a grain not yet
 * allocated takes the next 64 KiB at the end of the file, zero-filled around the data
 * (get_whole_cluster), and its entry goes into both grain tables (vmdk_L2update).
 */
import { DiskImgError } from '../../errors.ts';
import type { GuestWriter } from '../output/guest-writer.ts';
import type { HostFile } from '../output/host-file.ts';
import { setLe64 } from '../output/fields.ts';
import { FLAG_RGD, FLAG_ZERO_GRAIN, KDMV } from './sparse-header.ts';

export const VMDK_ADAPTER_TYPES = ['ide', 'buslogic', 'lsilogic', 'legacyESX'] as const;
export const VMDK_SUBFORMATS = [
  'monolithicSparse',
  'monolithicFlat',
  'twoGbMaxExtentSparse',
  'twoGbMaxExtentFlat',
  'streamOptimized',
] as const;

export interface VmdkWriteOptions {
  subformat: (typeof VMDK_SUBFORMATS)[number];
  adapterType: (typeof VMDK_ADAPTER_TYPES)[number];
  /** ddb.virtualHWVersion: '4', or '6' with compat6, or as given. */
  hwversion: string;
  toolsversion: string;
  zeroedGrain: boolean;
  /** The output's base name: the descriptor names its extents after it. */
  fileName: string;
  /** The disk's size (whole sectors). */
  size: number;
}

const SECTOR = 512;
const GRANULARITY = 128;
const GRAIN = GRANULARITY * SECTOR;
const GTES_PER_GT = 512;
const GT_SECTORS = (GTES_PER_GT * 4) / SECTOR;
const DESCRIPTOR_OFFSET = 1;
const DESCRIPTOR_SECTORS = 20;
const FLAG_NL_DETECT = 1;
/** VMDK4_FLAG_NL_DETECT's check bytes: "\n \r\n". */
const CHECK_BYTES = [0x0a, 0x20, 0x0d, 0x0a];

const usage = (message: string, field: string): never => {
  throw new DiskImgError('usage', message, { field });
};

/** The -o values vmdk_co_do_create takes, with its messages for what it refuses. */
export function resolveVmdkOptions(
  values: ReadonlyMap<string, string | number | boolean>,
  fileName: string,
  size: number,
): VmdkWriteOptions {
  const compat6 = values.get('compat6') === true;
  const hwversion = values.get('hwversion') as string | undefined;
  if (compat6 && hwversion !== undefined) usage('compat6 cannot be enabled with hwversion set', 'hwversion');
  const adapterType = (values.get('adapter_type') as string | undefined) ?? 'ide';
  if (!(VMDK_ADAPTER_TYPES as readonly string[]).includes(adapterType)) usage(`invalid parameter value: ${adapterType}`, 'adapter_type');
  const subformat = (values.get('subformat') as string | undefined) ?? 'monolithicSparse';
  if (!(VMDK_SUBFORMATS as readonly string[]).includes(subformat)) usage(`invalid parameter value: ${subformat}`, 'subformat');
  if (!(subformat in VMDK_SUBFORMAT_WRITERS))
    usage(`subformat=${subformat} is not supported by diskimg yet (${Object.keys(VMDK_SUBFORMAT_WRITERS).join(' and ')} are)`, 'subformat');
  if (values.has('backing_file')) usage('A backing file for a VMDK output is not supported by diskimg', 'backing_file');
  // qemu-img writes one, then cannot open it ("Unsupported image type"): refused before anything is written.
  if (size === 0) usage('A VMDK of 0 bytes cannot be opened by qemu (it writes one, then refuses it)', 'size');
  return {
    subformat: subformat as VmdkWriteOptions['subformat'],
    adapterType: adapterType as VmdkWriteOptions['adapterType'],
    hwversion: hwversion ?? (compat6 ? '6' : '4'),
    toolsversion: (values.get('toolsversion') as string | undefined) ?? '2147483647',
    zeroedGrain: values.get('zeroed_grain') === true,
    fileName,
    size: Math.ceil(size / SECTOR) * SECTOR,
  };
}

/**
 * filename_decompose: the output's name without its extension, and the extension ("disk", ".vmdk").
 */
function decompose(fileName: string): [string, string] {
  const dot = fileName.lastIndexOf('.');
  return dot < 0 ? [fileName, ''] : [fileName.slice(0, dot), fileName.slice(dot)];
}

/** twoGbMaxExtent*: each extent holds at most 2 GiB of the disk. */
const SPLIT_SIZE = 2 * 1024 * 1024 * 1024;

/** The other files a VMDK of these options consists of (its extents, beside the descriptor). */
export function vmdkCompanions(o: VmdkWriteOptions, size: number): string[] {
  return extents(o, size)
    .filter((e) => e.name !== o.fileName)
    .map((e) => e.name);
}

interface ExtentPlan {
  name: string;
  start: number;
  size: number;
}

/** The extents vmdk_co_do_create makes, named as it names them. */
function extents(o: VmdkWriteOptions, size: number): ExtentPlan[] {
  const [prefix, postfix] = decompose(o.fileName);
  if (o.subformat === 'monolithicSparse') return [{ name: o.fileName, start: 0, size }];
  if (o.subformat === 'monolithicFlat') return [{ name: `${prefix}-flat${postfix}`, start: 0, size }];
  const kind = o.subformat === 'twoGbMaxExtentFlat' ? 'f' : 's';
  const list: ExtentPlan[] = [];
  for (let start = 0, index = 1; start < size; start += SPLIT_SIZE, index++) {
    list.push({ name: `${prefix}-${kind}${String(index).padStart(3, '0')}${postfix}`, start, size: Math.min(SPLIT_SIZE, size - start) });
  }
  return list;
}

const isFlat = (o: VmdkWriteOptions) => o.subformat === 'monolithicFlat' || o.subformat === 'twoGbMaxExtentFlat';

/** The descriptor vmdk_co_do_create writes, CID drawn at random. */
export function sparseDescriptor(size: number, o: VmdkWriteOptions): string {
  const cid = crypto.getRandomValues(new Uint32Array(1))[0].toString(16);
  const heads = o.adapterType === 'ide' ? 16 : 255;
  return [
    '# Disk DescriptorFile',
    'version=1',
    `CID=${cid}`,
    'parentCID=ffffffff',
    `createType="${o.subformat}"`,
    '',
    '# Extent description',
    ...extents(o, size).map((e) => (isFlat(o) ? `RW ${e.size / SECTOR} FLAT "${e.name}" 0` : `RW ${e.size / SECTOR} SPARSE "${e.name}"`)),
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    `ddb.virtualHWVersion = "${o.hwversion}"`,
    `ddb.geometry.cylinders = "${Math.floor(size / (63 * heads * SECTOR))}"`,
    `ddb.geometry.heads = "${heads}"`,
    'ddb.geometry.sectors = "63"',
    `ddb.adapterType = "${o.adapterType}"`,
    `ddb.toolsVersion = "${o.toolsversion}"`,
    '',
  ].join('\n');
}

/**
 * A VMDK whose descriptor is a file of its own (monolithicFlat, twoGbMaxExtentSparse/Flat): the
 * descriptor, padded to a whole sector as qemu 7.2 leaves it, and its extents beside it: flat
 * ones hold the guest disk as it is, sparse ones are each a sparse extent without a descriptor.
 */
export class VmdkExtentsWriter implements GuestWriter {
  private constructor(
    private readonly parts: Array<{ start: number; size: number; writer: GuestWriter }>,
    readonly size: number,
  ) {}

  static async create(host: HostFile, virtualSize: number, options: VmdkWriteOptions, companions: HostFile[]): Promise<VmdkExtentsWriter> {
    const size = Math.ceil(virtualSize / SECTOR) * SECTOR;
    const plan = extents(options, size);
    const parts = [];
    for (const [i, extent] of plan.entries()) {
      const file = companions[i];
      if (isFlat(options)) {
        await file.setLength(extent.size);
        parts.push({ ...extent, writer: new FlatExtent(file) });
      } else {
        parts.push({ ...extent, writer: await VmdkSparseWriter.create(file, extent.size, options, false) });
      }
    }
    const descriptor = new TextEncoder().encode(sparseDescriptor(size, options));
    const padded = new Uint8Array(Math.ceil(descriptor.length / SECTOR) * SECTOR);
    padded.set(descriptor);
    await host.metadata(0, padded);
    return new VmdkExtentsWriter(parts, size);
  }

  async write(guestOffset: number, bytes: Uint8Array): Promise<void> {
    if (guestOffset + bytes.length > this.size) {
      throw new DiskImgError('usage', `A write at ${guestOffset} of ${bytes.length} bytes runs past the VMDK's ${this.size} bytes`, {
        offset: guestOffset,
      });
    }
    for (let done = 0; done < bytes.length;) {
      const at = guestOffset + done;
      const part = this.parts.find((p) => at >= p.start && at < p.start + p.size)!;
      const n = Math.min(bytes.length - done, part.start + part.size - at);
      await part.writer.write(at - part.start, bytes.subarray(done, done + n));
      done += n;
    }
  }

  async finish(): Promise<void> {
    for (const part of this.parts) await part.writer.finish();
  }
}

/** A flat extent: the disk's bytes where they are (holes where never written). */
class FlatExtent implements GuestWriter {
  constructor(private readonly file: HostFile) {}

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    await this.file.data(offset, bytes, offset);
  }

  async finish(): Promise<void> {}
}

export class VmdkSparseWriter implements GuestWriter {
  private readonly gtCount: number;
  private readonly gdSectors: number;
  private readonly rgdOffset = DESCRIPTOR_OFFSET + DESCRIPTOR_SECTORS;
  private readonly gdOffset: number;
  private readonly grainOffset: number;
  /** Grain table entries (sector of each grain, 0: not allocated). */
  private readonly gte: Uint32Array;
  private nextGrainSector: number;

  private constructor(
    private readonly host: HostFile,
    readonly size: number,
  ) {
    const grains = Math.ceil(size / SECTOR / GRANULARITY);
    this.gtCount = Math.ceil(grains / GTES_PER_GT);
    this.gdSectors = Math.ceil((this.gtCount * 4) / SECTOR);
    this.gdOffset = this.rgdOffset + this.gdSectors + GT_SECTORS * this.gtCount;
    this.grainOffset = Math.ceil((this.gdOffset + this.gdSectors + GT_SECTORS * this.gtCount) / GRANULARITY) * GRANULARITY;
    this.gte = new Uint32Array(grains);
    this.nextGrainSector = this.grainOffset;
  }

  /** `descriptor`: embed it (monolithicSparse); an extent of a split VMDK has none. */
  static async create(host: HostFile, virtualSize: number, options: VmdkWriteOptions, descriptor = true): Promise<VmdkSparseWriter> {
    const size = Math.ceil(virtualSize / SECTOR) * SECTOR;
    const writer = new VmdkSparseWriter(host, size);
    await writer.initialise(options, descriptor);
    return writer;
  }

  private async initialise(o: VmdkWriteOptions, embedDescriptor: boolean): Promise<void> {
    const header = new Uint8Array(SECTOR);
    const v = new DataView(header.buffer);
    v.setUint32(0, KDMV, false);
    v.setUint32(4, o.zeroedGrain ? 2 : 1, true);
    v.setUint32(8, FLAG_RGD | FLAG_NL_DETECT | (o.zeroedGrain ? FLAG_ZERO_GRAIN : 0), true);
    setLe64(v, 12, this.size / SECTOR);
    setLe64(v, 20, GRANULARITY);
    setLe64(v, 28, DESCRIPTOR_OFFSET);
    setLe64(v, 36, DESCRIPTOR_SECTORS);
    v.setUint32(44, GTES_PER_GT, true);
    setLe64(v, 48, this.rgdOffset);
    setLe64(v, 56, this.gdOffset);
    setLe64(v, 64, this.grainOffset);
    header.set(CHECK_BYTES, 73);
    await this.host.metadata(0, header);
    await this.host.setLength(this.grainOffset * SECTOR);
    for (const directory of [this.rgdOffset, this.gdOffset]) {
      const gd = new Uint8Array(this.gdSectors * SECTOR);
      const g = new DataView(gd.buffer);
      for (let i = 0; i < this.gtCount; i++) g.setUint32(i * 4, directory + this.gdSectors + i * GT_SECTORS, true);
      await this.host.metadata(directory * SECTOR, gd);
    }
    if (!embedDescriptor) return;
    const descriptor = new TextEncoder().encode(sparseDescriptor(this.size, o));
    if (descriptor.length > DESCRIPTOR_SECTORS * SECTOR)
      usage('The VMDK descriptor does not fit its 20 sectors (is toolsversion or hwversion too long?)', 'toolsversion');
    await this.host.metadata(DESCRIPTOR_OFFSET * SECTOR, descriptor);
  }

  async write(guestOffset: number, bytes: Uint8Array): Promise<void> {
    if (guestOffset + bytes.length > this.size) {
      throw new DiskImgError('usage', `A write at ${guestOffset} of ${bytes.length} bytes runs past the VMDK's ${this.size} bytes`, {
        offset: guestOffset,
      });
    }
    for (let done = 0; done < bytes.length;) {
      const at = guestOffset + done;
      const grain = Math.floor(at / GRAIN);
      const inGrain = at % GRAIN;
      const n = Math.min(bytes.length - done, GRAIN - inGrain);
      let sector = this.gte[grain];
      const allocating = sector === 0;
      if (allocating) {
        sector = this.nextGrainSector;
        this.nextGrainSector += GRANULARITY;
        // get_whole_cluster: the grain's parts the write leaves out are written as zeros.
        if (inGrain > 0) await this.host.zeros(sector * SECTOR, inGrain);
        if (inGrain + n < GRAIN) await this.host.zeros(sector * SECTOR + inGrain + n, GRAIN - inGrain - n);
      }
      await this.host.data(sector * SECTOR + inGrain, bytes.subarray(done, done + n), at);
      if (allocating) {
        this.gte[grain] = sector;
        const entry = new Uint8Array(4);
        new DataView(entry.buffer).setUint32(0, sector, true);
        const table = Math.floor(grain / GTES_PER_GT);
        const slot = (grain % GTES_PER_GT) * 4;
        // vmdk_L2update: the grain table, then its redundant copy.
        await this.host.metadata((this.gdOffset + this.gdSectors + table * GT_SECTORS) * SECTOR + slot, entry);
        await this.host.metadata((this.rgdOffset + this.gdSectors + table * GT_SECTORS) * SECTOR + slot, entry);
      }
      done += n;
    }
  }

  async finish(): Promise<void> {}
}

/**
 * The VMDK subformats diskimg writes, each with its writer (`companions`: the other files of the
 * output, beside it). VMDK streamOptimized registers here.
 */
export const VMDK_SUBFORMAT_WRITERS: Partial<
  Record<
    VmdkWriteOptions['subformat'],
    (host: HostFile, size: number, options: VmdkWriteOptions, companions: HostFile[]) => Promise<GuestWriter>
  >
> = {
  monolithicSparse: (host, size, options) => VmdkSparseWriter.create(host, size, options),
  monolithicFlat: (host, size, options, companions) => VmdkExtentsWriter.create(host, size, options, companions),
  twoGbMaxExtentSparse: (host, size, options, companions) => VmdkExtentsWriter.create(host, size, options, companions),
  twoGbMaxExtentFlat: (host, size, options, companions) => VmdkExtentsWriter.create(host, size, options, companions),
};
