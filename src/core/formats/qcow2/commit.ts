/**
 * qemu-img commit's copy (an active commit: QEMU's mirror job, block/mirror.c, from the top image
 * to the base): every granule (the base's cluster size, at least 4 KiB; 64 KiB for raw) that a
 * layer above the base allocates is copied, in requests of at most 1 MiB. A range the chain reads
 * as a zero cluster is written as zeros (the base's zero flag, when it has one); any other is read
 * through the whole chain and written as data.
 *
 * QEMU runs up to 16 such requests at once, so where new clusters land in a qcow2 base varies from
 * run to run (seen: 4 layouts in 5 runs); diskimg writes them in guest order, one of QEMU's
 * possible layouts. Memory: one request (1 MiB) at a time.
 */
import type { DiskImage } from '../../disk.ts';
import type { WritableStorage } from '../../storage/writable.ts';
import type { Qcow2Header } from './header.ts';
import { Qcow2GuestWriter } from './guest-writer.ts';

/** Mirror's largest request (MAX_IO_BYTES) and its buffer (16 MiB): a run of dirty granules at most that long. */
const MAX_REQUEST = 1 << 20;
const MAX_RUN = 16 << 20;

/** Where commit writes: the base image, taking whole granules. */
export interface CommitTarget {
  readonly granularity: number;
  writeData(guest: number, bytes: Uint8Array): Promise<void>;
  writeZeros(guest: number, length: number): Promise<void>;
  /** Puts on disk what is still held back (the last L2 table changed). */
  finish(): Promise<void>;
}

/** A raw base: its file is the disk (a zero write leaves zeros, as QEMU's hole punch reads). */
export function rawTarget(file: WritableStorage): CommitTarget {
  return {
    granularity: 1 << 16,
    writeData: (guest, bytes) => file.write(guest, bytes),
    async writeZeros(guest, length) {
      const zeros = new Uint8Array(Math.min(length, MAX_REQUEST));
      for (let at = guest; at < guest + length; at += zeros.length)
        await file.write(at, zeros.subarray(0, Math.min(zeros.length, guest + length - at)));
    },
    finish: () => file.sync(),
  };
}

function wholeClusters(bytes: Uint8Array, clusterSize: number): Uint8Array {
  if (bytes.length % clusterSize === 0) return bytes;
  const padded = new Uint8Array(Math.ceil(bytes.length / clusterSize) * clusterSize);
  padded.set(bytes);
  return padded;
}

export async function qcow2Target(file: WritableStorage, h: Qcow2Header): Promise<CommitTarget> {
  const writer = await Qcow2GuestWriter.open(file, h);
  return {
    granularity: Math.max(4096, h.clusterSize),
    // The last cluster may pass the disk's end (a size not a multiple of the cluster size): it is
    // written whole, its tail zeros, as QEMU's copy-on-write fills it.
    writeData: (guest, bytes) => writer.writeData(guest, wholeClusters(bytes, h.clusterSize)),
    writeZeros: (guest, length) => writer.writeZeros(guest, Math.ceil(length / h.clusterSize) * h.clusterSize),
    finish: () => writer.flush(),
  };
}

type GranuleKind = 'clean' | 'zero' | 'data';

/**
 * The granules of [start, end) as the commit sees them: clean (nothing above the base), zero (a
 * zero cluster above the base covers it all) or data.
 */
async function* granules(
  image: DiskImage,
  baseDepth: number,
  granularity: number,
  end: number,
): AsyncGenerator<{ start: number; kind: GranuleKind }> {
  let current: { start: number; kind: GranuleKind } | undefined;
  for await (const extent of image.mappings(0, end)) {
    const above = extent.depth < baseDepth && extent.kind !== 'unallocated';
    const kind: GranuleKind = !above ? 'clean' : extent.kind === 'zero' ? 'zero' : 'data';
    for (let at = extent.start; at < extent.start + extent.length;) {
      const start = Math.floor(at / granularity) * granularity;
      if (current && current.start !== start) {
        yield current;
        current = undefined;
      }
      if (!current) current = { start, kind };
      // A granule of mixed kinds is copied whole as data (QEMU's dirty bitmap marks all of it, and
      // block status then reads data): its clean part, read through the chain, is the base's own bytes.
      else if (current.kind !== kind) current.kind = 'data';
      at = Math.min(extent.start + extent.length, start + granularity);
      // Whole clean granules inside a long clean extent need no look (a terabyte of them is millions).
      const lastStart = Math.floor((extent.start + extent.length) / granularity) * granularity;
      if (kind === 'clean' && at < lastStart) {
        yield current;
        current = undefined;
        at = lastStart;
      }
    }
  }
  if (current) yield current;
}

/**
 * Copies into the base (layer `baseDepth` of `image`) what the layers above it hold, over the
 * image's whole virtual size. `onProgress` hears the bytes walked so far.
 */
export async function commitToBase(
  image: DiskImage,
  baseDepth: number,
  target: CommitTarget,
  onProgress?: (done: number, total: number) => void,
): Promise<void> {
  const size = image.virtualSize;
  const g = target.granularity;
  let run: { start: number; end: number; kind: GranuleKind } | undefined;
  const flush = async () => {
    if (!run) return;
    // A granule (2 MiB clusters) may be larger than a request: then a request is one granule.
    const request = Math.max(MAX_REQUEST, g);
    for (let at = run.start; at < run.end; at += request) {
      const length = Math.min(request, run.end - at);
      if (run.kind === 'zero') await target.writeZeros(at, length);
      else await target.writeData(at, await image.read(at, length));
    }
    onProgress?.(run.end, size);
    run = undefined;
  };
  for await (const granule of granules(image, baseDepth, g, size)) {
    const end = Math.min(size, granule.start + g);
    if (run && (granule.kind !== run.kind || granule.start !== run.end || end - run.start > MAX_RUN)) await flush();
    if (granule.kind === 'clean') continue;
    if (run) run.end = end;
    else run = { start: granule.start, end, kind: granule.kind };
  }
  await flush();
  await target.finish();
  onProgress?.(size, size);
}
