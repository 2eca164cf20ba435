/**
 * One compression thread for the browser: pako deflate with QEMU's parameters, or zstd level 3
 * in WASM. Clusters arrive and leave in batches (a message per cluster costs too much).
 */
import { init as initZstd, compress as zstdCompress } from '@bokuweb/zstd-wasm';
import { deflateCompressor, zstdCompressor, type CompressCluster } from '../src/core/codecs/compress.ts';

export interface CompressRequest {
  type: 'zlib' | 'zstd';
  clusterSize: number;
  ids: number[];
  buffers: ArrayBuffer[];
}

export interface CompressReply {
  ids: number[];
  results: Array<ArrayBuffer | null>;
}

let compress: Promise<CompressCluster> | undefined;

function compressor(type: 'zlib' | 'zstd', clusterSize: number): Promise<CompressCluster> {
  compress ??= type === 'zlib' ? Promise.resolve(deflateCompressor(clusterSize)) : initZstd().then(() => zstdCompressor(clusterSize, (data, level) => zstdCompress(data, level)));
  return compress;
}

self.onmessage = async (event: MessageEvent<CompressRequest>) => {
  const { type, clusterSize, ids, buffers } = event.data;
  const run = await compressor(type, clusterSize);
  const results = buffers.map((buffer) => run(new Uint8Array(buffer))?.slice().buffer ?? null);
  const transfer = results.filter((r): r is ArrayBuffer => r !== null);
  (self as unknown as Worker).postMessage({ ids, results } satisfies CompressReply, transfer);
};
