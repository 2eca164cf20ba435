/**
 * A pool of worker threads compressing clusters for the CLI: Node's native zlib (several times
 * faster than pako) with QEMU's deflate parameters, and libzstd compiled to WASM at level 3.
 * The engine only sees a ClusterCompressor; it knows nothing of threads. Clusters travel in
 * batches: one message per 64 KiB cluster would cost more than compressing it.
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { ClusterCompressor, CompressionType } from '../core/codecs/compress.ts';

// Plain CommonJS run with `eval`, so the same pool works from the TypeScript sources and from
// the bundled CLI without a second build entry.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const zlib = require('node:zlib');
const { type, clusterSize, zstdPath } = workerData;
let ready = Promise.resolve();
let zstdCompress;
if (type === 'zstd') {
  // One compression context and fixed buffers for the worker's life: the package's simple
  // compress() allocates a context per call, which costs more than a 64 KiB cluster.
  const zstd = require(zstdPath);
  const { Module } = require(require('node:path').join(require('node:path').dirname(zstdPath), 'module.js'));
  ready = zstd.init().then(() => {
    const cctx = Module._ZSTD_createCCtx();
    const bound = Module._ZSTD_compressBound(clusterSize);
    const src = Module._malloc(clusterSize);
    const dst = Module._malloc(bound);
    zstdCompress = (input) => {
      Module.HEAPU8.set(input, src);
      const size = Module._ZSTD_compress_usingDict(cctx, dst, bound, src, input.length, 0, 0, 3);
      if (Module._ZSTD_isError(size)) throw new Error('zstd compression failed: ' + size);
      return Module.HEAPU8.subarray(dst, dst + size);
    };
  });
}
parentPort.on('message', async ({ ids, buffers }) => {
  await ready;
  const results = [];
  const transfer = [];
  for (const data of buffers) {
    const input = new Uint8Array(data);
    const out = type === 'zstd' ? zstdCompress(input) : zlib.deflateRawSync(input, { level: 6, windowBits: 12, memLevel: 9 });
    if (out.length > clusterSize - 1) { results.push(null); continue; }
    const copy = new Uint8Array(out.length);
    copy.set(out);
    results.push(copy.buffer);
    transfer.push(copy.buffer);
  }
  parentPort.postMessage({ ids, results }, transfer);
});
`;

const BATCH = 16;

interface Pending {
  resolve(value: Uint8Array | null): void;
  reject(error: Error): void;
}

interface Queue {
  ids: number[];
  buffers: ArrayBuffer[];
}

export class NodeCompressorPool implements ClusterCompressor {
  private readonly workers: Worker[];
  private readonly load: number[];
  private readonly queues: Queue[];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private flushScheduled = false;

  constructor(type: CompressionType, clusterSize: number, threads = availableParallelism()) {
    const zstdPath = type === 'zstd' ? createRequire(import.meta.url).resolve('@bokuweb/zstd-wasm') : undefined;
    this.workers = Array.from({ length: Math.max(1, threads) }, (_, index) => {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { type, clusterSize, zstdPath } });
      worker.on('message', ({ ids, results }: { ids: number[]; results: Array<ArrayBuffer | null> }) => {
        this.load[index] -= ids.length;
        ids.forEach((id, i) => {
          const job = this.pending.get(id);
          this.pending.delete(id);
          job?.resolve(results[i] ? new Uint8Array(results[i]!) : null);
        });
      });
      worker.on('error', (error) => {
        for (const job of this.pending.values()) job.reject(error);
        this.pending.clear();
      });
      return worker;
    });
    this.load = this.workers.map(() => 0);
    this.queues = this.workers.map(() => ({ ids: [], buffers: [] }));
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
      setImmediate(() => {
        this.flushScheduled = false;
        this.queues.forEach((_, i) => this.send(i));
      });
    }
    return result;
  }

  private send(index: number): void {
    const queue = this.queues[index];
    if (queue.ids.length === 0) return;
    this.workers[index].postMessage({ ids: queue.ids, buffers: queue.buffers }, queue.buffers);
    this.queues[index] = { ids: [], buffers: [] };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
