/**
 * One codec thread for the browser, lent to jobs by the page (src/lib/codec-threads.ts): it
 * compresses clusters (pako deflate with QEMU's parameters, or zstd level 3 in WASM) and decodes
 * compressed qcow2 clusters (pako's raw inflate, libzstd in WASM). Clusters arrive and leave in
 * batches (a message per cluster costs too much).
 */
import { init as initZstd } from '@bokuweb/zstd-wasm';
import { Module } from 'zstd-wasm-module';
import { batchClusters, type CompressBatch, type CompressReply } from '../src/core/codecs/compressor-pool.ts';
import {
  deflateCompressor,
  looksIncompressible,
  zstdCompressor,
  type CompressCluster,
  type ZstdEncode,
} from '../src/core/codecs/compress.ts';
import type { PoolCodec } from '../src/core/codecs/compressor-pool.ts';
import { portableDecoders } from '../src/core/codecs/decoders.ts';
import { decodeBatch, type DecodeRequest, type ThreadDecoders } from '../src/core/codecs/decoder-pool.ts';
import { wasmZstdDecoder } from '../src/core/codecs/zstd-wasm-decoder.ts';
import { vmdkGrainDeflater } from '../src/core/formats/vmdk/write/grain-deflate.ts';
import { WORKER_READY } from './expose.ts';

export interface CompressRequest extends CompressBatch {
  type: PoolCodec;
  clusterSize: number;
}

/** A message on the worker's own scope: a job's port, over which its batches come and go. */
export interface CodecConnect {
  connect: MessagePort;
}

/** A batch the worker could not compress or decode: the engine fails the job with this. */
export interface CodecFailure {
  ids: number[];
  failed: string;
}

/**
 * pako deflates at about half native zlib's speed (and zstd in WebAssembly at about half native
 * zstd's), and a cluster of noise (compressed or encrypted files in the guest) costs a third of
 * the compression time or more, only to be stored raw. In the page such clusters are stored raw
 * without trying (see looksIncompressible); the CLI compresses every one, as qemu-img does.
 */
function skippingNoise(compress: CompressCluster): CompressCluster {
  return (cluster) => (looksIncompressible(cluster) ? null : compress(cluster));
}

/**
 * One zstd context and fixed buffers for the worker's life: the package's compress() makes a
 * context (a megabyte of workspace) and two buffers per call, which costs more than the cluster.
 */
function reusedZstd(clusterSize: number): ZstdEncode {
  const cctx = Module._ZSTD_createCCtx();
  const bound = Module._ZSTD_compressBound(clusterSize);
  const src = Module._malloc(clusterSize);
  const dst = Module._malloc(bound);
  return (data, level) => {
    Module.HEAPU8.set(data, src);
    const size = Module._ZSTD_compress_usingDict(cctx, dst, bound, src, data.length, 0, 0, level);
    if (Module._ZSTD_isError(size)) throw new Error(`zstd compression failed (${size})`);
    return Module.HEAPU8.slice(dst, dst + size);
  };
}

/** Per codec and cluster size, made once for the worker's life (a zstd context, a compiled module). */
const compressors = new Map<string, Promise<CompressCluster>>();

function compressor(type: PoolCodec, clusterSize: number): Promise<CompressCluster> {
  const key = `${type}/${clusterSize}`;
  let made = compressors.get(key);
  // A VMDK grain is always stored deflated (QEMU has no raw grain): no noise skipping there.
  made ??=
    type === 'vmdk'
      ? Promise.resolve(vmdkGrainDeflater(clusterSize))
      : type === 'zlib'
        ? Promise.resolve(skippingNoise(deflateCompressor(clusterSize)))
        : initZstd().then(() => skippingNoise(zstdCompressor(clusterSize, reusedZstd(clusterSize))));
  compressors.set(key, made);
  return made;
}

async function compressBatch(request: CompressRequest, port: MessagePort): Promise<void> {
  const { type, clusterSize, ids } = request;
  let results: Array<ArrayBuffer | null>;
  try {
    const run = await compressor(type, clusterSize);
    // The deflate result is a view of a reused buffer, the zstd one a fresh copy: only the former needs copying.
    results = batchClusters(request).map((cluster) => {
      const out = run(cluster);
      return out === null
        ? null
        : out.byteOffset === 0 && out.byteLength === out.buffer.byteLength
          ? (out.buffer as ArrayBuffer)
          : out.slice().buffer;
    });
  } catch (error) {
    port.postMessage({ ids, failed: String((error as Error)?.message ?? error) } satisfies CodecFailure);
    return;
  }
  const transfer = results.filter((r): r is ArrayBuffer => r !== null);
  port.postMessage({ ids, results, buffer: request.buffer } satisfies CompressReply, [...transfer, request.buffer]);
}

const portable = portableDecoders();
/** The decoders for the thread's life: pako's raw inflate keeps one state, libzstd one context and fixed buffers. */
let decoders: ThreadDecoders = {
  zlib: { name: 'zlib: pako inflate', decode: portable.zlib },
  zstd: { name: 'zstd: fzstd', decode: portable.zstd },
};
let zstdLoaded: Promise<void> | undefined;

/** libzstd in WASM, loaded with the first zstd batch (fzstd took 3 times as long); where it will not load, fzstd stays. */
function loadZstdDecoder(): Promise<void> {
  zstdLoaded ??= initZstd().then(
    () => void (decoders = { ...decoders, zstd: { name: 'zstd: libzstd (WASM)', decode: wasmZstdDecoder(Module, portable.zstd) } }),
    () => {},
  );
  return zstdLoaded;
}

async function decodeClusters(request: DecodeRequest, port: MessagePort): Promise<void> {
  if (request.codecs.includes('zstd')) await loadZstdDecoder();
  let reply;
  try {
    reply = decodeBatch(request, decoders);
  } catch (error) {
    port.postMessage({ ids: request.ids, failed: String((error as Error)?.message ?? error) } satisfies CodecFailure);
    return;
  }
  port.postMessage(reply, [reply.input, reply.output]);
}

// The page starts this worker and lends it to each job by a port per pool (src/lib/codec-threads.ts):
// a job's decoding pool sends DecodeRequests on its port, its compressing pool CompressRequests on another.
self.onmessage = (event: MessageEvent<CodecConnect>) => {
  const port = event.data.connect;
  port.onmessage = (batch: MessageEvent<CompressRequest | DecodeRequest>) =>
    void ('codecs' in batch.data ? decodeClusters(batch.data, port) : compressBatch(batch.data, port));
};
self.postMessage({ type: WORKER_READY });
