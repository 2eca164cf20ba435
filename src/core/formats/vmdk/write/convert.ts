/**
 * Any disk image → a streamOptimized VMDK, issuing qemu-img convert's compressed write sequence
 * (one grain per request, requests following the source's block status, all-zero grains skipped:
 * QEMU's vmdk driver asks for compressed writes, bdrv_get_info's needs_compressed_writes). Grains
 * deflate in parallel on the compressor given (a pool of threads in the CLI and the page) and are
 * written in guest order.
 */
import { isAllZero } from '../../../bytes.ts';
import { inlineCompressor, type ClusterCompressor } from '../../../codecs/compress.ts';
import type { DiskImage } from '../../../disk.ts';
import { DiskImgError } from '../../../errors.ts';
import { BufferPool } from '../../../pipeline/buffer-pool.ts';
import { throwIfAborted, type ConvertOptions } from '../../../pipeline/convert.ts';
import { writeRequests } from '../../../pipeline/convert-qcow2.ts';
import { runOrdered } from '../../../pipeline/ordered.ts';
import { CoalescingSink, type Sink } from '../../../sink.ts';
import { vmdkGrainDeflater } from './grain-deflate.ts';
import {
  GRAIN_SIZE,
  StreamOptimizedWriter,
  type StreamOptimizedLayoutKind,
  type StreamOptimizedResult,
  type StreamOptimizedSettings,
} from './stream-optimized.ts';

export interface StreamOptimizedConvertOptions extends ConvertOptions {
  settings: StreamOptimizedSettings;
  /** Deflates grains as vmdkGrainDeflater does (the 'vmdk' kind of the compression pools); inline pako when absent. */
  compressor?: ClusterCompressor;
  /** Which layout: qemu-img's on a seekable sink, VMware's stream form on an append-only one, unless given. */
  layout?: StreamOptimizedLayoutKind;
}

/** Grains in flight: enough to keep every compression thread fed (as the qcow2 -c path). */
const GRAINS_IN_FLIGHT = 256;

interface Prepared {
  index: number;
  length: number;
  deflated?: Uint8Array;
}

export async function convertToStreamOptimizedVmdk(
  image: DiskImage,
  sink: Sink,
  options: StreamOptimizedConvertOptions,
): Promise<StreamOptimizedResult> {
  // qemu-img 7.2 writes such a file, then fails to open it ("Unsupported image type"): no use writing one.
  if (image.virtualSize === 0)
    throw new DiskImgError(
      'usage',
      'A streamOptimized VMDK of 0 bytes cannot be opened by qemu-img ("Unsupported image type"); the source is empty',
      { field: 'virtual size', value: 0 },
    );
  const kind = options.layout ?? (sink.truncate ? 'qemu' : 'stream');
  const out = new CoalescingSink(sink);
  const writer = await StreamOptimizedWriter.create(out, image.virtualSize, options.settings, kind);
  const compressor = options.compressor ?? inlineCompressor(vmdkGrainDeflater(GRAIN_SIZE));
  const pool = BufferPool.forImage(image);
  const inPlace = BufferPool.fillsInPlace(image);
  const total = image.virtualSize;
  let done = 0;

  async function* tasks(): AsyncGenerator<() => Promise<Prepared>> {
    for await (const request of writeRequests(image, true, GRAIN_SIZE)) {
      throwIfAborted(options.signal);
      const index = request.offset / GRAIN_SIZE;
      // A request may reach past a virtual size that is not whole sectors: read what is there.
      const length = Math.min(request.length, total - request.offset);
      if (request.status === 'zero') {
        yield async () => ({ index, length: request.length });
        continue;
      }
      yield async () => {
        let bytes: Uint8Array;
        if (inPlace) await image.readInto(request.offset, (bytes = pool.acquire(length)));
        else bytes = await image.read(request.offset, length);
        if (isAllZero(bytes)) {
          if (inPlace) pool.release(bytes);
          return { index, length: request.length };
        }
        // QEMU deflates a whole number of sectors: a disk that ends mid-sector ends in zeros. The
        // stream form deflates the last grain whole, as VMware does (7-Zip reads no shorter one).
        const grainLength = kind === 'stream' ? GRAIN_SIZE : request.length;
        let grain = bytes;
        if (length < grainLength) {
          grain = new Uint8Array(grainLength);
          grain.set(bytes);
        }
        const deflated = await compressor.compress(grain);
        if (inPlace) pool.release(bytes);
        if (!deflated) throw new DiskImgError('io', `grain ${index} did not deflate: the compressor given is not a VMDK grain compressor`);
        return { index, length: request.length, deflated };
      };
    }
  }

  await runOrdered(tasks(), GRAINS_IN_FLIGHT, async ({ index, length, deflated }) => {
    throwIfAborted(options.signal);
    if (deflated) await writer.writeGrain(index, deflated);
    done += length;
    options.onProgress?.(Math.min(done, total), total);
  });
  const result = await writer.finish();
  await out.flush();
  return result;
}
