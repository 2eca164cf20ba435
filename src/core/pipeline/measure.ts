/**
 * qemu-img measure: how many bytes a new image will take, before it is written. The arithmetic is
 * QEMU's (block/qcow2.c qcow2_measure and qcow2_calc_prealloc_size, block/raw-format.c raw_measure),
 * so the figures equal qemu-img's to the byte:
 * - fully-allocated: every cluster of the virtual disk, plus the metadata that would map them;
 * - required: the same less the data clusters the source leaves empty (its zero and unallocated
 *   ranges, by block status: no content is read), all metadata still counted;
 * - bitmaps (qcow2 v3 output from a qcow2 v3 source): the persistent bitmaps copied along.
 * Sizes reach 2^63 bytes (2 MiB clusters), past a double's exact integers: the sums are bigints.
 */
import { luksPayloadBytes } from '../crypto/luks.ts';
import type { DiskImage } from '../disk.ts';
import { DiskImgError } from '../errors.ts';
import { readBitmaps } from '../formats/qcow2/describe.ts';
import { Qcow2Layer } from '../formats/qcow2/layer.ts';
import { mapEntries } from '../map.ts';
import type { OutputFormat } from './convert-image.ts';

export type Preallocation = 'off' | 'metadata' | 'falloc' | 'full';

/** qcow2's creation options that change its size (the rest, e.g. compression_type, do not). */
export interface Qcow2MeasureOptions {
  clusterSize: number;
  /** 2 for compat=0.10, 3 for 1.1. */
  version: 2 | 3;
  refcountBits: number;
  extendedL2: boolean;
  preallocation: Preallocation;
  /** The new image will have a backing file (-o backing_file): its data may all differ from it. */
  hasBackingFile: boolean;
  /** A LUKS header region at the start of the file (luksPayloadBytes), 0 without encryption. */
  luksHeaderBytes: number;
}

export const DEFAULT_MEASURE_OPTIONS: Qcow2MeasureOptions = {
  clusterSize: 65536,
  version: 3,
  refcountBits: 16,
  extendedL2: false,
  preallocation: 'off',
  hasBackingFile: false,
  luksHeaderBytes: 0,
};

export interface Measurement {
  required: bigint;
  fullyAllocated: bigint;
  /** Only where qemu-img prints it: qcow2 v3 output measured from a qcow2 v3 image. */
  bitmaps?: bigint;
}

/** What is measured: an opened image, or a size alone (qemu-img measure --size). */
export type MeasureSource = { image: DiskImage } | { size: bigint };

const QCOW_MAX_L1_SIZE = 32n << 20n;
const L1E_SIZE = 8n;

const roundUp = (value: bigint, to: bigint) => ((value + to - 1n) / to) * to;
const divRoundUp = (value: bigint, by: bigint) => (value + by - 1n) / by;
const invalid = (message: string, field: string, value: number | string): never => {
  throw new DiskImgError('usage', message, { field, value });
};

/** The option checks qcow2_measure makes, with its messages. */
export function validateMeasureOptions(o: Qcow2MeasureOptions): void {
  const bits = Math.log2(o.clusterSize);
  if (!Number.isInteger(bits) || bits < 9 || bits > 21)
    invalid('Cluster size must be a power of two between 512 and 2048k', 'cluster_size', o.clusterSize);
  if (o.extendedL2 && o.clusterSize < 16384)
    invalid('Extended L2 entries are only supported with cluster sizes of at least 16384 bytes', 'extended_l2', o.clusterSize);
  if (o.refcountBits > 64 || !Number.isInteger(Math.log2(o.refcountBits)))
    invalid('Refcount width must be a power of two and may not exceed 64 bits', 'refcount_bits', o.refcountBits);
  if (o.version < 3 && o.refcountBits !== 16)
    invalid(
      'Different refcount widths than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)',
      'refcount_bits',
      o.refcountBits,
    );
}

/**
 * Refcount blocks and table for `clusters` clusters: they count themselves too, so QEMU iterates
 * to the fixed point where adding them needs no further block or table cluster.
 */
function refcountMetadataBytes(clusters: bigint, clusterSize: bigint, refcountBits: bigint): bigint {
  const blocksPerTableCluster = clusterSize / 8n;
  const refcountsPerBlock = (clusterSize * 8n) / refcountBits;
  let table = 0n;
  let blocks = 0n;
  let total = -1n;
  for (;;) {
    blocks = divRoundUp(clusters + table + blocks, refcountsPerBlock);
    table = divRoundUp(blocks, blocksPerTableCluster);
    const next = clusters + blocks + table;
    if (next === total) return (blocks + table) * clusterSize;
    total = next;
  }
}

/** Every byte of a fully allocated qcow2 of `virtualSize` (qcow2_calc_prealloc_size). */
export function qcow2FullyAllocated(
  virtualSize: bigint,
  o: Pick<Qcow2MeasureOptions, 'clusterSize' | 'refcountBits' | 'extendedL2'>,
): bigint {
  const cs = BigInt(o.clusterSize);
  const l2EntrySize = o.extendedL2 ? 16n : 8n;
  const dataBytes = roundUp(virtualSize, cs);
  // One header cluster; L2 entries for every cluster, in whole tables; L1 entries in whole clusters.
  const l2Entries = roundUp(dataBytes / cs, cs / l2EntrySize);
  const l1Entries = roundUp((l2Entries * l2EntrySize) / cs, cs / L1E_SIZE);
  const metadata = cs + l2Entries * l2EntrySize + l1Entries * L1E_SIZE;
  return metadata + refcountMetadataBytes((metadata + dataBytes) / cs, cs, BigInt(o.refcountBits)) + dataBytes;
}

/**
 * Bytes of the clusters the source's data touches, as qemu's loop over block status counts them:
 * every range that is data (not zero, held by some layer of the chain) is widened to whole output
 * clusters, and a cluster is counted once.
 */
async function dataClusterBytes(image: DiskImage, clusterSize: number): Promise<bigint> {
  const cs = BigInt(clusterSize);
  let counted = 0n;
  let covered = 0n; // the end of the last counted cluster: later ranges start no lower
  const count = (start: bigint, end: bigint) => {
    const from = start > covered ? start : covered;
    if (from >= end) return;
    const last = roundUp(end, cs);
    counted += last - (from / cs) * cs;
    covered = last;
  };
  const runs = rawDataRuns(image);
  if (runs) {
    for await (const [start, end] of runs) count(BigInt(start), BigInt(end));
    return counted;
  }
  for await (const entry of mapEntries(image)) {
    if (entry.present && entry.data && !entry.zero) count(BigInt(entry.start), BigInt(entry.start + entry.length));
  }
  return counted;
}

/**
 * A file's data runs where its storage knows its holes (a sparse local file). QEMU asks the file
 * system (SEEK_DATA); a raw image read through a storage that cannot say is all data, as a raw
 * image is to QEMU on a file system without holes.
 */
function rawDataRuns(image: DiskImage): AsyncIterable<[number, number]> | undefined {
  const [top] = image.layers;
  if (image.layers.length !== 1 || top.format !== 'raw') return undefined;
  const storage = top.storage as { dataRuns?: (end: number) => AsyncIterable<[number, number]> };
  return storage.dataRuns?.(image.virtualSize);
}

/** persistent bitmaps copied into a qcow2 of `clusterSize` (qcow2_get_persistent_dirty_bitmap_size). */
async function bitmapBytes(layer: Qcow2Layer, virtualSize: bigint, clusterSize: number): Promise<bigint> {
  const cs = BigInt(clusterSize);
  let total = 0n;
  let directory = 0n;
  for (const bitmap of await readBitmaps(layer)) {
    const bytes = divRoundUp(divRoundUp(virtualSize, BigInt(bitmap.granularity)), 8n);
    const clusters = divRoundUp(bytes, cs);
    // The whole bitmap allocated, its table, and its directory entry (24 bytes and the name, 8-aligned).
    total += clusters * cs + roundUp(clusters * 8n, cs);
    directory += roundUp(24n + BigInt(new TextEncoder().encode(bitmap.name).length), 8n);
  }
  return total + roundUp(directory, cs);
}

/** qemu-img measure -O `format`: the figures it prints. */
export async function measure(
  source: MeasureSource,
  format: OutputFormat,
  options: Qcow2MeasureOptions = DEFAULT_MEASURE_OPTIONS,
): Promise<Measurement> {
  if (format === 'raw') {
    // A raw image's holes still count towards its size.
    const size = 'image' in source ? BigInt(source.image.virtualSize) : roundUp(source.size, 512n);
    return { required: size, fullyAllocated: size };
  }
  validateMeasureOptions(options);
  const cs = BigInt(options.clusterSize);
  // The size limit is checked against --size only (an image's size is not known yet here in QEMU).
  const asked = roundUp('size' in source ? source.size : 0n, cs);
  const l2Tables = divRoundUp(asked / cs, cs / (options.extendedL2 ? 16n : 8n));
  if (l2Tables * L1E_SIZE > QCOW_MAX_L1_SIZE)
    invalid('The image size is too large (try using a larger cluster size)', 'size', String(asked));

  let virtualSize = asked;
  let used = 0n;
  let bitmaps: bigint | undefined;
  if ('image' in source) {
    const { image } = source;
    virtualSize = roundUp(BigInt(image.virtualSize), cs);
    // A new backing file may share nothing with the source: every cluster may need writing.
    used = options.hasBackingFile ? virtualSize : await dataClusterBytes(image, options.clusterSize);
    const [top] = image.layers;
    if (options.version >= 3 && top instanceof Qcow2Layer && top.header.version >= 3)
      bitmaps = await bitmapBytes(top, BigInt(image.virtualSize), options.clusterSize);
  }
  if (options.preallocation === 'full' || options.preallocation === 'falloc') used = virtualSize;
  const fullyAllocated =
    BigInt(options.luksHeaderBytes === 0 ? 0 : roundUp(BigInt(options.luksHeaderBytes), cs)) + qcow2FullyAllocated(virtualSize, options);
  // The metadata of the fully allocated image stays counted: an overestimate, as QEMU's.
  const measurement: Measurement = { required: fullyAllocated - virtualSize + used, fullyAllocated };
  if (bitmaps !== undefined) measurement.bitmaps = bitmaps;
  return measurement;
}

/** What the page asks before converting: the conversion's output options, in the engine's terms. */
export interface MeasureOptions {
  outputFormat: OutputFormat;
  clusterSize: number;
  /** A LUKS header (default cipher) is written into the qcow2 file. */
  encrypted?: boolean;
  /** qcow2 compat (default 1.1). */
  compat?: '0.10' | '1.1';
  /** qcow2 refcount_bits (default 16). */
  refcountBits?: number;
}

const ceilDiv = (a: number, b: number) => Math.ceil(a / b);
const MiB = 1024 * 1024;

/**
 * The most a VMDK, VHD, VDI or VHDX of this disk can take whatever its options (they are the page's
 * defaults or the user's): every block allocated, plus the metadata.
 */
function writerFormatBound(format: Exclude<OutputFormat, 'raw' | 'qcow2'>, virtualSize: number): number {
  const size = ceilDiv(virtualSize, 512) * 512;
  switch (format) {
    case 'vpc': {
      // Dynamic: each 2 MiB block with its bitmap sector, the BAT, headers and footers; fixed (CHS
      // rounding adds less than one cylinder of 255 × 16 sectors) is smaller.
      const blocks = ceilDiv(size + 255 * 16 * 512, 2 * MiB);
      return blocks * (2 * MiB + 512) + ceilDiv(blocks * 4, 512) * 512 + 2048;
    }
    case 'vmdk': {
      // monolithicSparse: header, descriptor, both grain directories and tables, every 64 KiB grain.
      const grains = ceilDiv(size, 65536);
      const tables = ceilDiv(grains, 512);
      return ceilDiv((21 + 2 * (ceilDiv(tables * 4, 512) + 4 * tables)) * 512, 65536) * 65536 + grains * 65536;
    }
    case 'vdi':
      return 512 + ceilDiv(ceilDiv(size, MiB) * 4, 512) * 512 + ceilDiv(size, MiB) * MiB;
    case 'vhdx': {
      // Header section, log, BAT and metadata regions and the 5 MiB gap, then (fixed with
      // block_state_zero) the preallocated disk and every block again at the end.
      const blockSize = 256 * MiB;
      const batLength = ceilDiv(ceilDiv(size, MiB) * 8 * 2, MiB) * MiB;
      return 8 * MiB + batLength + 5 * MiB + size + ceilDiv(size, blockSize) * blockSize + MiB;
    }
  }
}

/**
 * An upper bound of the qcow2 diskimg writes, counting only the L2 tables that map data. QEMU's
 * figure counts the L2 tables of the whole virtual disk, which for a sparse 64 TiB disk is 8 GiB
 * of tables its file will never hold: that would refuse jobs that fit.
 */
async function writtenQcow2Bound(image: DiskImage, clusterSize: number, encrypted: boolean): Promise<number> {
  const perL2 = clusterSize / 8;
  let dataClusters = 0;
  let lastCluster = -1;
  let l2Tables = 0;
  let lastTable = -1;
  for await (const extent of image.mappings()) {
    if (extent.kind !== 'data' && extent.kind !== 'compressed') continue;
    const first = Math.max(Math.floor(extent.start / clusterSize), lastCluster + 1);
    const last = Math.floor((extent.start + extent.length - 1) / clusterSize);
    if (last < first) continue;
    dataClusters += last - first + 1;
    lastCluster = last;
    // Extents come in guest order: each table is counted once.
    for (let table = Math.max(Math.floor(first / perL2), lastTable + 1); table <= Math.floor(last / perL2); table++) l2Tables++;
    lastTable = Math.floor(last / perL2);
  }
  const l1Clusters = ceilDiv(ceilDiv(image.virtualSize, clusterSize * perL2) * 8, clusterSize);
  const encryption = encrypted ? ceilDiv(luksPayloadBytes({}), clusterSize) + 1 : 0;
  const counted = 1 + l1Clusters + l2Tables + dataClusters + encryption;
  // 16-bit refcounts: a block counts clusterSize / 2 clusters; the blocks and their table count themselves.
  const refcountBlocks = ceilDiv(counted + 2, clusterSize / 2 - 2) + 1;
  const refcountTable = ceilDiv(refcountBlocks * 8, clusterSize);
  return (counted + refcountBlocks + refcountTable) * clusterSize;
}

/**
 * The most bytes a conversion's output can take, for the page to decide where it fits: qemu-img
 * measure's `required` (raw: the virtual size, exact), or for qcow2 the tighter of that and a
 * bound that leaves out the L2 tables of empty ranges — both hold for the file diskimg writes.
 */
export async function measureOutput(image: DiskImage, options: MeasureOptions): Promise<number> {
  if (options.outputFormat !== 'raw' && options.outputFormat !== 'qcow2') return writerFormatBound(options.outputFormat, image.virtualSize);
  const encrypted = options.encrypted === true && options.outputFormat === 'qcow2';
  const measured = await measure({ image }, options.outputFormat, {
    ...DEFAULT_MEASURE_OPTIONS,
    clusterSize: options.clusterSize,
    version: options.compat === '0.10' ? 2 : 3,
    refcountBits: options.refcountBits ?? DEFAULT_MEASURE_OPTIONS.refcountBits,
    luksHeaderBytes: encrypted ? luksPayloadBytes({}) : 0,
  });
  const required = Number(measured.required);
  if (options.outputFormat === 'raw') return required;
  return Math.min(required, await writtenQcow2Bound(image, options.clusterSize, encrypted));
}
