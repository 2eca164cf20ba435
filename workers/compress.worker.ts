/**
 * One compression thread for the browser: pako deflate with QEMU's parameters, or zstd level 3
 * in WASM. Clusters arrive and leave in batches (a message per cluster costs too much).
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
import { vmdkGrainDeflater } from '../src/core/formats/vmdk/write/grain-deflate.ts';

export interface CompressRequest extends CompressBatch {
  type: PoolCodec;
  clusterSize: number;
}

let compress: Promise<CompressCluster> | undefined;

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

function compressor(type: PoolCodec, clusterSize: number): Promise<CompressCluster> {
  // A VMDK grain is always stored deflated (QEMU has no raw grain): no noise skipping there.
  if (type === 'vmdk') compress ??= Promise.resolve(vmdkGrainDeflater(clusterSize));
  compress ??=
    type === 'zlib'
      ? Promise.resolve(skippingNoise(deflateCompressor(clusterSize)))
      : initZstd().then(() => skippingNoise(zstdCompressor(clusterSize, reusedZstd(clusterSize))));
  return compress;
}

self.onmessage = async (event: MessageEvent<CompressRequest>) => {
  const { type, clusterSize, ids } = event.data;
  const run = await compressor(type, clusterSize);
  // The deflate result is a view of a reused buffer, the zstd one a fresh copy: only the former needs copying.
  const results = batchClusters(event.data).map((cluster) => {
    const out = run(cluster);
    return out === null
      ? null
      : out.byteOffset === 0 && out.byteLength === out.buffer.byteLength
        ? (out.buffer as ArrayBuffer)
        : out.slice().buffer;
  });
  const transfer = results.filter((r): r is ArrayBuffer => r !== null);
  const buffer = event.data.buffer;
  (self as unknown as Worker).postMessage({ ids, results, buffer } satisfies CompressReply, [...transfer, buffer]);
};
