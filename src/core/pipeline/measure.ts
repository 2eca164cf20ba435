/**
 * How large a conversion's output will be at most, before it starts (qemu-img measure's
 * arithmetic, made conservative): raw is the virtual size; qcow2 is every cluster that holds
 * data (uncompressed: compression only makes it smaller) plus its metadata. The page compares
 * this with what the output's place can hold and refuses a job that cannot fit, up front.
 */
import type { DiskImage } from '../disk.ts';
import type { OutputFormat } from './convert-image.ts';

export interface MeasureOptions {
  outputFormat: OutputFormat;
  clusterSize: number;
  /** A LUKS header is written into the qcow2 file (qemu-img: about 2 MiB with one key slot). */
  encrypted?: boolean;
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

/** The most bytes the output can take (an upper bound, exact for raw). */
export async function measureOutput(image: DiskImage, options: MeasureOptions): Promise<number> {
  if (options.outputFormat === 'raw') return image.virtualSize;
  if (options.outputFormat !== 'qcow2') return writerFormatBound(options.outputFormat, image.virtualSize);
  const cs = options.clusterSize;
  const perL2 = cs / 8;
  let dataClusters = 0;
  let lastCluster = -1;
  const l2Tables = new Set<number>();
  for await (const extent of image.mappings()) {
    if (extent.kind !== 'data' && extent.kind !== 'compressed') continue;
    const first = Math.max(Math.floor(extent.start / cs), lastCluster + 1);
    const last = Math.floor((extent.start + extent.length - 1) / cs);
    if (last < first) continue;
    dataClusters += last - first + 1;
    lastCluster = last;
    for (let table = Math.floor(first / perL2); table <= Math.floor(last / perL2); table++) l2Tables.add(table);
  }
  const l1Clusters = ceilDiv(ceilDiv(image.virtualSize, cs * perL2) * 8, cs);
  const encryption = options.encrypted ? ceilDiv(2 << 20, cs) + 1 : 0;
  const counted = 1 + l1Clusters + l2Tables.size + dataClusters + encryption;
  // 16-bit refcounts: a block counts cs / 2 clusters; the blocks and their table count themselves.
  const refcountBlocks = ceilDiv(counted + 2, cs / 2 - 2) + 1;
  const refcountTable = ceilDiv(refcountBlocks * 8, cs);
  return (counted + refcountBlocks + refcountTable) * cs;
}
