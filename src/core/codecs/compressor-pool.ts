/**
 * Compression spread over threads, for any platform: clusters go to the least loaded thread in
 * batches (a message per 64 KiB cluster would cost more than compressing it) and come back
 * matched by id. The platform says how a thread is started and how a batch reaches it: Node's
 * worker_threads in the CLI, Web Workers in the page.
 */
import type { ClusterCompressor, CompressionType } from './compress.ts';

/** What a pool's threads compress with: qcow2's cluster codecs, or 'vmdk' for streamOptimized grains (vmdkGrainDeflater: zlib-wrapped, every grain kept). */
export type PoolCodec = CompressionType | 'vmdk';

const BATCH = 16;

export interface CompressBatch {
  ids: number[];
  /**
   * The batch's clusters back to back, `lengths[i]` bytes each: one buffer, transferred there and
   * back, and reused for later batches. Fresh memory is what costs: measured in Chromium, a copy
   * of its own per cluster took a fifth of the engine thread's time in a zstd conversion, and one
   * fresh buffer per batch as much again (first-touch page faults, not the copying).
   */
  buffer: ArrayBuffer;
  lengths: number[];
}

/** The clusters of a batch, as views of its one buffer. */
export function batchClusters({ buffer, lengths }: CompressBatch): Uint8Array[] {
  let at = 0;
  return lengths.map((length) => {
    const view = new Uint8Array(buffer, at, length);
    at += length;
    return view;
  });
}

export interface CompressReply {
  ids: number[];
  /** Per cluster: its compressed bytes, or null when it does not shrink. */
  results: Array<ArrayBuffer | null>;
  /** The batch's buffer, handed back (transferred) for the next batch. */
  buffer: ArrayBuffer;
}

/** Batch buffers kept for reuse: enough for every thread's batches in flight. */
const SPARE_BUFFERS = 16;

export interface CompressionThread {
  post(batch: CompressBatch): void;
  terminate(): unknown;
}

export type StartThread = (onReply: (reply: CompressReply) => void, onError: (error: Error) => void) => CompressionThread;

export class CompressorPool implements ClusterCompressor {
  private readonly threads: CompressionThread[];
  private readonly load: number[];
  /** Per thread, the clusters waiting to go: copied into one buffer when their batch is sent. */
  private queues: Array<{ ids: number[]; clusters: Uint8Array[] }>;
  private readonly spare: ArrayBuffer[] = [];
  private readonly pending = new Map<number, { resolve(value: Uint8Array | null): void; reject(error: Error): void }>();
  private nextId = 0;
  private flushScheduled = false;

  /** `later` runs the flush of part-filled batches once the caller's current burst of work is done. */
  constructor(
    count: number,
    start: StartThread,
    private readonly later: (flush: () => void) => void,
  ) {
    this.threads = Array.from({ length: Math.max(1, count) }, (_, index) =>
      start(
        ({ ids, results, buffer }) => {
          this.load[index] -= ids.length;
          if (this.spare.length < SPARE_BUFFERS) this.spare.push(buffer);
          ids.forEach((id, i) => {
            const job = this.pending.get(id);
            this.pending.delete(id);
            job?.resolve(results[i] ? new Uint8Array(results[i]!) : null);
          });
        },
        (error) => {
          for (const job of this.pending.values()) job.reject(error);
          this.pending.clear();
        },
      ),
    );
    this.load = this.threads.map(() => 0);
    this.queues = this.threads.map(() => ({ ids: [], clusters: [] }));
  }

  compress(cluster: Uint8Array): Promise<Uint8Array | null> {
    const id = this.nextId++;
    const index = this.load.indexOf(Math.min(...this.load));
    this.load[index]++;
    // The caller keeps its bytes until the result comes (an incompressible cluster is stored as
    // it is): they are copied when the batch is sent.
    const queue = this.queues[index];
    queue.ids.push(id);
    queue.clusters.push(cluster);
    const result = new Promise<Uint8Array | null>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    if (queue.ids.length >= BATCH) this.send(index);
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.later(() => {
        this.flushScheduled = false;
        this.queues.forEach((_, i) => this.send(i));
      });
    }
    return result;
  }

  private send(index: number): void {
    const queue = this.queues[index];
    if (queue.ids.length === 0) return;
    const lengths = queue.clusters.map((cluster) => cluster.length);
    const total = lengths.reduce((sum, length) => sum + length, 0);
    const reuse = this.spare.findIndex((buffer) => buffer.byteLength >= total);
    const packed = new Uint8Array(reuse >= 0 ? this.spare.splice(reuse, 1)[0] : new ArrayBuffer(total), 0, total);
    let at = 0;
    for (const cluster of queue.clusters) {
      packed.set(cluster, at);
      at += cluster.length;
    }
    this.threads[index].post({ ids: queue.ids, buffer: packed.buffer, lengths });
    this.queues[index] = { ids: [], clusters: [] };
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((thread) => thread.terminate()));
  }
}
