/**
 * Compression spread over threads, for any platform: clusters go to the least loaded thread in
 * batches (a message per 64 KiB cluster would cost more than compressing it) and come back
 * matched by id. The platform says how a thread is started and how a batch reaches it: Node's
 * worker_threads in the CLI, Web Workers in the page.
 */
import type { ClusterCompressor } from './compress.ts';

const BATCH = 16;

export interface CompressBatch {
  ids: number[];
  /** Transferred to the thread, never copied. */
  buffers: ArrayBuffer[];
}

export interface CompressReply {
  ids: number[];
  /** Per cluster: its compressed bytes, or null when it does not shrink. */
  results: Array<ArrayBuffer | null>;
}

export interface CompressionThread {
  post(batch: CompressBatch): void;
  terminate(): unknown;
}

export type StartThread = (onReply: (reply: CompressReply) => void, onError: (error: Error) => void) => CompressionThread;

export class CompressorPool implements ClusterCompressor {
  private readonly threads: CompressionThread[];
  private readonly load: number[];
  private queues: CompressBatch[];
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
        ({ ids, results }) => {
          this.load[index] -= ids.length;
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
    this.queues = this.threads.map(() => ({ ids: [], buffers: [] }));
  }

  compress(cluster: Uint8Array): Promise<Uint8Array | null> {
    const id = this.nextId++;
    const index = this.load.indexOf(Math.min(...this.load));
    this.load[index]++;
    // The caller keeps its bytes (an incompressible cluster is stored as it is): send a copy.
    const queue = this.queues[index];
    queue.ids.push(id);
    queue.buffers.push(cluster.slice().buffer);
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
    this.threads[index].post(queue);
    this.queues[index] = { ids: [], buffers: [] };
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((thread) => thread.terminate()));
  }
}
