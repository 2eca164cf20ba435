/** Compression over a pool of browser workers, batched, behind the engine's ClusterCompressor. */
import type { ClusterCompressor, CompressionType } from '../src/core/codecs/compress.ts';
import type { CompressReply } from './compress.worker.ts';

const BATCH = 16;

export class BrowserCompressorPool implements ClusterCompressor {
  private readonly workers: Worker[];
  private readonly load: number[];
  private queues: Array<{ ids: number[]; buffers: ArrayBuffer[] }>;
  private readonly pending = new Map<number, { resolve(v: Uint8Array | null): void; reject(e: Error): void }>();
  private nextId = 0;
  private flushScheduled = false;

  constructor(
    private readonly type: CompressionType,
    private readonly clusterSize: number,
    threads: number,
  ) {
    this.workers = Array.from({ length: Math.max(1, threads) }, (_, index) => {
      const worker = new Worker(new URL('./compress.worker.ts', import.meta.url), { type: 'module' });
      worker.onmessage = (event: MessageEvent<CompressReply>) => {
        this.load[index] -= event.data.ids.length;
        event.data.ids.forEach((id, i) => {
          const result = event.data.results[i];
          this.pending.get(id)?.resolve(result ? new Uint8Array(result) : null);
          this.pending.delete(id);
        });
      };
      worker.onerror = (event) => {
        for (const job of this.pending.values()) job.reject(new Error(`compression worker failed: ${event.message}`));
        this.pending.clear();
      };
      return worker;
    });
    this.load = this.workers.map(() => 0);
    this.queues = this.workers.map(() => ({ ids: [], buffers: [] }));
  }

  compress(cluster: Uint8Array): Promise<Uint8Array | null> {
    const id = this.nextId++;
    const index = this.load.indexOf(Math.min(...this.load));
    this.load[index]++;
    const queue = this.queues[index];
    queue.ids.push(id);
    queue.buffers.push(cluster.slice().buffer);
    const result = new Promise<Uint8Array | null>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    if (queue.ids.length >= BATCH) this.send(index);
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => setTimeout(() => {
        this.flushScheduled = false;
        this.queues.forEach((_, i) => this.send(i));
      }, 0));
    }
    return result;
  }

  private send(index: number): void {
    const queue = this.queues[index];
    if (queue.ids.length === 0) return;
    this.workers[index].postMessage({ type: this.type, clusterSize: this.clusterSize, ids: queue.ids, buffers: queue.buffers }, queue.buffers);
    this.queues[index] = { ids: [], buffers: [] };
  }

  async close(): Promise<void> {
    this.workers.forEach((worker) => worker.terminate());
  }
}
