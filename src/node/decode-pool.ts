/**
 * Node-only: compressed qcow2 clusters decoded on worker threads (native zlib, libzstd in WASM),
 * so that a compressed image converts back to raw on every core. Clusters go in batches (a message
 * per 64 KiB cluster would cost more than decoding it). A cluster whose target lies in shared
 * memory (the CLI's page-aligned read buffers) is decoded straight into it; any other comes back
 * in a reply buffer. Whatever a thread cannot decode to exactly one cluster (several zstd frames,
 * damage) the calling thread's exact decoders judge, as QEMU's rules are theirs.
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { ClusterDecoders, DecodeCluster, DecodeClusterLater } from '../core/codecs/decoders.ts';
import { zstdFrameLength } from '../core/codecs/zstd-frames.ts';

// Plain CommonJS run with `eval`, so the same pool works from the TypeScript sources and from
// the bundled CLI without a second build entry (as compress-pool.ts).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const zlib = require('node:zlib');
const { zstdPath } = workerData;
let zstdDecode;
const ready = (async () => {
  const zstd = require(zstdPath);
  const { Module } = require(require('node:path').join(require('node:path').dirname(zstdPath), 'module.js'));
  await zstd.init();
  const dctx = Module._ZSTD_createDCtx();
  let capacity = 0, src = 0, dst = 0, dstSize = 0;
  zstdDecode = (frame, out) => {
    if (frame.length > capacity) { capacity = frame.length * 2; src = Module._malloc(capacity); }
    if (out.length > dstSize) { dstSize = out.length; dst = Module._malloc(dstSize); }
    Module.HEAPU8.set(frame, src);
    const size = Module._ZSTD_decompress_usingDict(dctx, dst, out.length, src, frame.length, 0, 0);
    if (Module._ZSTD_isError(size) || size !== out.length) return false;
    out.set(Module.HEAPU8.subarray(dst, dst + size));
    return true;
  };
})();
parentPort.on('message', async ({ ids, type, input, lengths, clusterSize, targets }) => {
  await ready;
  const ok = [];
  let reply;
  let at = 0;
  lengths.forEach((length, i) => {
    const stream = new Uint8Array(input, at, length);
    at += length;
    const target = targets[i];
    const out = target
      ? new Uint8Array(target.memory, target.offset, clusterSize)
      : new Uint8Array((reply ??= new ArrayBuffer(lengths.length * clusterSize)), i * clusterSize, clusterSize);
    let done = false;
    try {
      if (type === 'zstd') done = zstdDecode(stream, out);
      else {
        const decoded = zlib.inflateRawSync(stream);
        done = decoded.length === clusterSize;
        if (done) out.set(decoded);
      }
    } catch {
      done = false;
    }
    ok.push(done);
  });
  parentPort.postMessage({ ids, ok, reply, input }, reply ? [reply, input] : [input]);
});
`;

interface Job {
  id: number;
  stream: Uint8Array;
  out: Uint8Array;
  resolve(decoded: boolean): void;
  reject(error: Error): void;
}

interface Reply {
  ids: number[];
  ok: boolean[];
  reply?: ArrayBuffer;
  input: ArrayBuffer;
}

const BATCH = 16;

export class DecoderPool {
  private readonly workers: Worker[];
  private readonly load: number[];
  private readonly queues: Array<{ type: 'zlib' | 'zstd'; jobs: Job[] }[]>;
  private readonly pending = new Map<number, Job>();
  private readonly spare: ArrayBuffer[] = [];
  private nextId = 0;
  private flushScheduled = false;

  constructor(threads = availableParallelism()) {
    const zstdPath = createRequire(import.meta.url).resolve('@bokuweb/zstd-wasm');
    this.workers = Array.from({ length: Math.max(1, threads) }, (_, index) => {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { zstdPath } });
      worker.on('message', (reply: Reply) => this.settle(index, reply));
      worker.on('error', (error) => {
        for (const job of this.pending.values()) job.reject(error);
        this.pending.clear();
      });
      // An idle pool must not keep the process alive.
      worker.unref();
      return worker;
    });
    this.load = this.workers.map(() => 0);
    this.queues = this.workers.map(() => []);
  }

  /** Decodes `stream` (one zlib stream, or one zstd frame) into `out`; false when it does not fill it exactly. */
  decode(type: 'zlib' | 'zstd', stream: Uint8Array, out: Uint8Array): Promise<boolean> {
    const index = this.load.indexOf(Math.min(...this.load));
    this.load[index]++;
    const promise = new Promise<boolean>((resolve, reject) => {
      const job: Job = { id: this.nextId++, stream, out, resolve, reject };
      this.pending.set(job.id, job);
      let queue = this.queues[index].find((q) => q.type === type);
      if (!queue) this.queues[index].push((queue = { type, jobs: [] }));
      queue.jobs.push(job);
      if (queue.jobs.length >= BATCH) this.send(index, queue);
    });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.workers.forEach((_, i) => [...this.queues[i]].forEach((queue) => this.send(i, queue)));
      });
    }
    return promise;
  }

  private send(index: number, queue: { type: 'zlib' | 'zstd'; jobs: Job[] }): void {
    this.queues[index] = this.queues[index].filter((q) => q !== queue);
    const { jobs } = queue;
    if (jobs.length === 0) return;
    const lengths = jobs.map((job) => job.stream.length);
    const total = lengths.reduce((sum, length) => sum + length, 0);
    const reuse = this.spare.findIndex((buffer) => buffer.byteLength >= total);
    const input = new Uint8Array(reuse >= 0 ? this.spare.splice(reuse, 1)[0] : new ArrayBuffer(Math.max(total, 1 << 20)), 0, total);
    let at = 0;
    for (const job of jobs) {
      input.set(job.stream, at);
      at += job.stream.length;
    }
    const clusterSize = jobs[0].out.length;
    const targets = jobs.map((job) =>
      job.out.buffer instanceof SharedArrayBuffer && job.out.length === clusterSize
        ? { memory: job.out.buffer, offset: job.out.byteOffset }
        : null,
    );
    if (jobs.some((job) => job.out.length !== clusterSize)) {
      // Mixed cluster sizes (two images of a chain) never share a batch: send them apart.
      const rest = jobs.filter((job) => job.out.length !== clusterSize);
      this.queues[index].push({ type: queue.type, jobs: rest });
      this.send(index, { type: queue.type, jobs: jobs.filter((job) => job.out.length === clusterSize) });
      return;
    }
    this.workers[index].ref();
    this.workers[index].postMessage(
      { ids: jobs.map((job) => job.id), type: queue.type, input: input.buffer, lengths, clusterSize, targets },
      [input.buffer],
    );
  }

  private settle(index: number, { ids, ok, reply, input }: Reply): void {
    this.load[index] -= ids.length;
    // Batch buffers come back for the next batches: fresh memory per batch is what costs.
    if (this.spare.length < 8) this.spare.push(input);
    if (this.load[index] === 0) this.workers[index].unref();
    ids.forEach((id, i) => {
      const job = this.pending.get(id);
      this.pending.delete(id);
      if (!job) return;
      if (ok[i] && reply && !(job.out.buffer instanceof SharedArrayBuffer)) {
        job.out.set(new Uint8Array(reply, i * job.out.length, job.out.length));
      }
      job.resolve(ok[i]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}

/**
 * Decoders that send each cluster to `pool`, and hand what it cannot decode to `exact` (the
 * portable decoders, or faster in-thread ones with the same contract).
 */
export function pooledDecoders(pool: DecoderPool, exact: ClusterDecoders): ClusterDecoders {
  const later =
    (
      type: 'zlib' | 'zstd',
      stream: (input: Uint8Array) => Uint8Array | undefined,
      fallback: DecodeCluster | DecodeClusterLater,
    ): DecodeClusterLater =>
    async (input, out) => {
      const first = stream(input);
      if (first && (await pool.decode(type, first, out))) return out;
      return fallback(input, out);
    };
  return {
    zlib: later('zlib', (input) => input, exact.zlib),
    zstd: later(
      'zstd',
      (input) => {
        // One frame that fills the cluster is the common case; anything else is the exact decoder's.
        const length = zstdFrameLength(input, 0);
        return length > 0 ? input.subarray(0, length) : undefined;
      },
      exact.zstd,
    ),
  };
}
