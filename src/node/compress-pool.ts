/**
 * A pool of worker threads compressing clusters for the CLI: Node's native zlib (several times
 * faster than pako) with QEMU's deflate parameters, and libzstd compiled to WASM at level 3.
 * The engine only sees a ClusterCompressor; it knows nothing of threads.
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
let zstd;
if (type === 'zstd') { zstd = require(zstdPath); ready = zstd.init(); }
parentPort.on('message', async ({ id, data }) => {
  await ready;
  const input = new Uint8Array(data);
  const out = type === 'zstd' ? zstd.compress(input, 3) : zlib.deflateRawSync(input, { level: 6, windowBits: 12, memLevel: 9 });
  if (out.length > clusterSize - 1) { parentPort.postMessage({ id, result: null }); return; }
  const copy = new Uint8Array(out.length);
  copy.set(out);
  parentPort.postMessage({ id, result: copy.buffer }, [copy.buffer]);
});
`;

interface Pending {
  resolve(value: Uint8Array | null): void;
  reject(error: Error): void;
}

export class NodeCompressorPool implements ClusterCompressor {
  private readonly workers: Worker[];
  private readonly load: number[];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(type: CompressionType, clusterSize: number, threads = availableParallelism()) {
    const zstdPath = type === 'zstd' ? createRequire(import.meta.url).resolve('@bokuweb/zstd-wasm') : undefined;
    this.workers = Array.from({ length: Math.max(1, threads) }, (_, index) => {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { type, clusterSize, zstdPath } });
      worker.on('message', ({ id, result }: { id: number; result: ArrayBuffer | null }) => {
        this.load[index]--;
        const job = this.pending.get(id);
        this.pending.delete(id);
        job?.resolve(result ? new Uint8Array(result) : null);
      });
      worker.on('error', (error) => {
        for (const job of this.pending.values()) job.reject(error);
        this.pending.clear();
      });
      return worker;
    });
    this.load = this.workers.map(() => 0);
  }

  compress(cluster: Uint8Array): Promise<Uint8Array | null> {
    const id = this.nextId++;
    const index = this.load.indexOf(Math.min(...this.load));
    this.load[index]++;
    // The caller keeps its bytes (an incompressible cluster is stored as it is): send a copy.
    const data = cluster.slice().buffer;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workers[index].postMessage({ id, data }, [data]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
