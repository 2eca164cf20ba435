/**
 * The guest writes `qemu-img convert` issues, whatever the output format (qemu-img.c:
 * convert_iteration_sectors, convert_co_write, is_allocated_sectors): requests follow the source's
 * block status in 2 MiB pieces (one cluster when compressing), zero extents are skipped, and
 * 4 KiB-aligned zero runs inside data are not written. Every output format's layout follows from
 * this sequence (a qcow2's clusters, a VHD's blocks, a VDI's blocks are allocated as writes come),
 * so feeding it to a writer that allocates as QEMU's driver does gives qemu-img's file.
 */
import { isAllZero } from '../bytes.ts';
import type { DiskImage } from '../disk.ts';
import type { Extent } from '../image.ts';

const SECTOR = 512;
/** BDRV_REQUEST_MAX_SECTORS: one block-status query covers at most this much. */
const MAX_REQUEST_SECTORS = Math.floor(0x7fffffff / SECTOR);
/** IO_BUF_SIZE: qemu-img convert reads at most 2 MiB per request. */
const BUFFER_SECTORS = (2 * 1024 * 1024) / SECTOR;
/** -S 4k: zero runs of at least 8 sectors, 4 KiB-aligned, are left unwritten. */
const MIN_SPARSE = 8;
const ALIGNMENT = 8;

export interface WriteRequest {
  offset: number;
  length: number;
  /** data: read and write it; zero: nothing to write (a fresh qcow2 reads as zeros). */
  status: 'data' | 'zero';
}

/** Source extents as one block-status query sees them: never across a source L2 table. */
async function* statusExtents(image: DiskImage): AsyncGenerator<Extent> {
  const top = image.layers[0];
  const split = top.statusSplit ?? Infinity;
  for await (const extent of image.mappings()) {
    let start = extent.start;
    const end = extent.start + extent.length;
    while (start < end) {
      const stop = Math.min(end, split === Infinity ? end : (Math.floor(start / split) + 1) * split);
      yield { ...extent, start, length: stop - start };
      start = stop;
    }
  }
}

/** The requests qemu-img convert makes (convert_iteration_sectors). */
export async function* writeRequests(image: DiskImage, compressed: boolean, clusterSize: number): AsyncGenerator<WriteRequest> {
  const total = Math.ceil(image.virtualSize / SECTOR);
  const top = image.layers[0];
  const sourceAlignment = top.clusterSize ? top.clusterSize / SECTOR : 1;
  const clusterSectors = clusterSize / SECTOR;
  const bufferSectors = compressed ? clusterSectors : Math.max(BUFFER_SECTORS, clusterSectors);
  const extents = statusExtents(image);
  let current: Extent | undefined;
  let status: 'data' | 'zero' = 'data';
  let nextStatus = 0;
  for (let sector = 0; sector < total;) {
    let n = Math.min(total - sector, MAX_REQUEST_SECTORS);
    if (nextStatus <= sector) {
      while (!current || (current.start + current.length) / SECTOR <= sector) {
        const next = await extents.next();
        if (next.done) break;
        current = next.value;
      }
      const extentEnd = current ? Math.ceil((current.start + current.length) / SECTOR) : total;
      n = Math.min(n, extentEnd - sector);
      const tail = (sector + n) % sourceAlignment;
      if (n > tail) n -= tail;
      status = current && (current.kind === 'data' || current.kind === 'compressed') ? 'data' : 'zero';
      nextStatus = sector + n;
    }
    n = Math.min(n, nextStatus - sector);
    if (status === 'data') n = Math.min(n, bufferSectors);
    if (compressed) {
      if (n < clusterSectors) {
        n = Math.min(clusterSectors, total - sector);
        status = 'data';
      } else {
        n -= n % clusterSectors;
      }
    }
    yield { offset: sector * SECTOR, length: n * SECTOR, status };
    sector += n;
  }
}

/** Which 512-byte sectors of `buffer` are all zero, in one pass (1 = zero). */
export function zeroSectors(buffer: Uint8Array): Uint8Array {
  const sectors = Math.ceil(buffer.length / SECTOR);
  const flags = new Uint8Array(sectors);
  const whole = Math.floor(buffer.length / SECTOR);
  const words = buffer.byteOffset % 4 === 0 ? new Uint32Array(buffer.buffer, buffer.byteOffset, whole * (SECTOR / 4)) : undefined;
  for (let s = 0; s < sectors; s++) {
    if (!words || s >= whole) {
      flags[s] = isAllZero(buffer.subarray(s * SECTOR, (s + 1) * SECTOR)) ? 1 : 0;
      continue;
    }
    let zero = 1;
    for (let w = s * (SECTOR / 4), end = w + SECTOR / 4; w < end; w += 4) {
      if ((words[w] | words[w + 1] | words[w + 2] | words[w + 3]) !== 0) {
        zero = 0;
        break;
      }
    }
    flags[s] = zero;
  }
  return flags;
}

/** is_allocated_sectors: [whether the first run holds data, its length in sectors]. */
function allocatedRun(zero: Uint8Array, first: number, n: number, sectorNum: number): [boolean, number] {
  if (n <= 0) return [false, 0];
  let isZero = zero[first] === 1;
  let i = 1;
  while (i < n && (zero[first + i] === 1) === isZero) i++;
  if (i === n) return [!isZero, i];
  const tail = (sectorNum + i) & (ALIGNMENT - 1);
  if (tail) {
    if (isZero && i <= tail) isZero = false;
    if (!isZero) i = Math.min(n, i + ALIGNMENT - tail);
    else i -= tail;
  }
  return [!isZero, i];
}

/** is_allocated_sectors_min: short zero runs inside data are written along with it. */
function allocatedRunMin(zero: Uint8Array, first: number, n: number, sectorNum: number): [boolean, number] {
  const min = Math.min(MIN_SPARSE, n);
  let [allocated, pnum] = allocatedRun(zero, first, n, sectorNum);
  if (!allocated) return [false, pnum];
  let used = pnum;
  let checked = pnum;
  while (n - checked > 0) {
    [allocated, pnum] = allocatedRun(zero, first + checked, n - checked, sectorNum + checked);
    checked += pnum;
    if (allocated) used = checked;
    else if (pnum >= min) break;
  }
  return [true, used];
}

/** The parts of one data request that qemu-img writes (convert_co_write with -S 4k). */
export function dataRuns(offset: number, buffer: Uint8Array): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  const zero = zeroSectors(buffer);
  const sectors = zero.length;
  if (!zero.includes(1)) return [[0, buffer.length]];
  for (let at = 0; at < sectors;) {
    const [allocated, count] = allocatedRunMin(zero, at, sectors - at, offset / SECTOR + at);
    if (allocated) runs.push([at * SECTOR, Math.min(buffer.length, (at + count) * SECTOR)]);
    at += count;
  }
  return runs;
}
