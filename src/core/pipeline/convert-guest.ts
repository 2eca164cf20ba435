/**
 * Drives any GuestWriter with the guest writes qemu-img convert issues (write-requests.ts): data is
 * read a few requests ahead (and compressed on every core when the writer compresses), then
 * handed over in order.
 */
import { isAllZero } from '../bytes.ts';
import type { ClusterCompressor } from '../codecs/compress.ts';
import type { DiskImage } from '../disk.ts';
import { DiskImgError } from '../errors.ts';
import type { GuestWriter } from '../formats/output/guest-writer.ts';
import { BufferPool } from './buffer-pool.ts';
import { throwIfAborted, type ConvertOptions } from './convert.ts';
import { runOrdered } from './ordered.ts';
import { dataRuns, writeRequests, type WriteRequest } from './write-requests.ts';

export interface DriveOptions extends ConvertOptions {
  /** Compress every cluster (qemu-img convert -c); the writer must have writeCompressed. */
  compressor?: ClusterCompressor;
  /** The unit of compression, and of the requests when compressing. */
  clusterSize: number;
}

/** Requests read ahead of the one being written. */
const READS_AHEAD = 4;
/** Requests whose writes may be in flight at once, as qemu-img convert's 8 coroutines. */
const WRITES_IN_FLIGHT = 8;

interface Prepared {
  request: WriteRequest;
  bytes?: Uint8Array;
  /** Compressed mode: the compressed cluster (null: store it as it is). */
  compressed?: Uint8Array | null;
}

export async function driveGuestWrites(image: DiskImage, writer: GuestWriter, options: DriveOptions): Promise<void> {
  const cs = options.clusterSize;
  const compressor = options.compressor;
  if (compressor && !writer.writeCompressed)
    throw new DiskImgError('usage', 'Compression not supported for this file format', { field: 'compress' });
  const total = image.virtualSize;
  const pool = BufferPool.forImage(image);
  const inPlace = BufferPool.fillsInPlace(image);
  let done = 0;

  async function* tasks(): AsyncGenerator<() => Promise<Prepared>> {
    for await (const request of writeRequests(image, compressor !== undefined, cs)) {
      throwIfAborted(options.signal);
      if (request.status === 'zero') {
        yield async () => ({ request });
        continue;
      }
      yield async () => {
        let bytes: Uint8Array;
        if (inPlace) await image.readInto(request.offset, (bytes = pool.acquire(request.length)));
        else bytes = await image.read(request.offset, request.length);
        if (!compressor) return { request, bytes };
        if (isAllZero(bytes)) {
          if (inPlace) pool.release(bytes);
          return { request };
        }
        let cluster = bytes;
        if (bytes.length < cs) {
          // The last cluster of the disk is zero-padded before compressing.
          cluster = new Uint8Array(cs);
          cluster.set(bytes);
        }
        return { request, bytes, compressed: await compressor.compress(cluster) };
      };
    }
  }

  // Where the writer allows it, writes stay in flight (a request's buffer goes back to the pool once
  // its writes land) while the next requests are read: qemu-img convert runs 8 coroutines.
  const landing: Promise<void>[] = [];
  const concurrent = writer.concurrent === true && !compressor;
  try {
    // Compressing, 256 clusters (16 MiB) in flight keep every compression thread fed (64 made a zstd
    // conversion of 1 GiB in the page 3.7 s instead of 3.4).
    await runOrdered(tasks(), compressor ? 256 : READS_AHEAD, async ({ request, bytes, compressed }) => {
      throwIfAborted(options.signal);
      if (bytes && compressor) {
        await writer.writeCompressed!(request.offset / cs, compressed ?? null, bytes);
      } else if (bytes && concurrent) {
        const writes = dataRuns(request.offset, bytes).map(([from, to]) => writer.write(request.offset + from, bytes.subarray(from, to)));
        const landed = Promise.all(writes).then(() => {
          if (inPlace) pool.release(bytes);
        });
        landed.catch(() => {}); // surfaced when awaited below
        landing.push(landed);
        if (landing.length >= WRITES_IN_FLIGHT) await landing.shift();
      } else if (bytes) {
        for (const [from, to] of dataRuns(request.offset, bytes)) await writer.write(request.offset + from, bytes.subarray(from, to));
      }
      if (bytes && inPlace && !concurrent) pool.release(bytes);
      done += request.length;
      options.onProgress?.(Math.min(done, total), total);
    });
    while (landing.length > 0) await landing.shift();
  } finally {
    await Promise.allSettled(landing);
  }
  await writer.finish();
}
