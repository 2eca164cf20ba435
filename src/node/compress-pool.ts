/**
 * Compression threads for the CLI: Node's native zlib (several times faster than pako) with QEMU's
 * deflate parameters, libzstd compiled to WASM at level 3, and pako for VMDK grains (see below),
 * behind the engine's CompressorPool (batching, balancing). The engine only sees a ClusterCompressor.
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { CompressorPool, type PoolCodec } from '../core/codecs/compressor-pool.ts';

// Plain CommonJS run with `eval`, so the same pool works from the TypeScript sources and from
// the bundled CLI without a second build entry.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const zlib = require('node:zlib');
const { type, clusterSize, zstdPath, pakoPath } = workerData;
// VMDK grains: pako with zlib's classic hash, whose bytes are zlib 1.2.13's (qemu-img's); Node's
// zlib hashes otherwise and cannot be told not to (see vmdk/write/grain-deflate.ts).
const pako = type === 'vmdk' ? require(pakoPath) : undefined;
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
parentPort.on('message', async ({ ids, buffer, lengths }) => {
  await ready;
  const results = [];
  const transfer = [];
  let at = 0;
  for (const length of lengths) {
    const input = new Uint8Array(buffer, at, length);
    at += length;
    // 'vmdk': a grain as zlib's compress() makes it, always kept (block/vmdk.c).
    const out = type === 'zstd' ? zstdCompress(input) : type === 'vmdk' ? pako.deflate(input, { level: 6, legacyHash: true }) : zlib.deflateRawSync(input, { level: 6, windowBits: 12, memLevel: 9 });
    if (type !== 'vmdk' && out.length > clusterSize - 1) { results.push(null); continue; }
    const copy = new Uint8Array(out.length);
    copy.set(out);
    results.push(copy.buffer);
    transfer.push(copy.buffer);
  }
  parentPort.postMessage({ ids, results, buffer }, [...transfer, buffer]);
});
`;

/** The CLI's pool: worker threads running WORKER_SOURCE. */
export class NodeCompressorPool extends CompressorPool {
  constructor(type: PoolCodec, clusterSize: number, threads = availableParallelism()) {
    const zstdPath = type === 'zstd' ? createRequire(import.meta.url).resolve('@bokuweb/zstd-wasm') : undefined;
    const pakoPath = type === 'vmdk' ? createRequire(import.meta.url).resolve('pako') : undefined;
    super(
      threads,
      (onReply, onError) => {
        const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { type, clusterSize, zstdPath, pakoPath } });
        worker.on('message', onReply);
        worker.on('error', onError);
        return { post: (batch) => worker.postMessage(batch, [batch.buffer]), terminate: () => worker.terminate() };
      },
      setImmediate,
    );
  }
}
