/**
 * Cluster compression with QEMU's exact parameters (block/qcow2-threads.c): raw deflate at level 6
 * with a 4 KiB window (windowBits -12) and memLevel 9, or zstd at level 3, into a buffer of
 * cluster_size - 1 bytes; when the result does not fit, the cluster is stored uncompressed.
 */
import { ZStream, Z_FINISH, Z_STREAM_END, zlibDeflate, zlibDeflateInit2, zlibDeflateReset } from 'pako';
import type { CompressionType } from '../formats/qcow2/header.ts';

export type { CompressionType };

/** Compresses one cluster; null when the result would not be smaller than the cluster. */
export type CompressCluster = (cluster: Uint8Array) => Uint8Array | null;

/** A zstd level-3 encoder for one buffer (supplied by the platform: a WASM build of libzstd). */
export type ZstdEncode = (data: Uint8Array, level: number) => Uint8Array;

const Z_DEFLATED = 8;
const Z_DEFAULT_STRATEGY = 0;

export function deflateCompressor(clusterSize: number): CompressCluster {
  const stream = new ZStream();
  zlibDeflateInit2(stream, 6, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY);
  const out = new Uint8Array(clusterSize - 1);
  return (cluster) => {
    zlibDeflateReset(stream);
    stream.input = cluster;
    stream.next_in = 0;
    stream.avail_in = cluster.length;
    stream.output = out;
    stream.next_out = 0;
    stream.avail_out = out.length;
    const status = zlibDeflate(stream, Z_FINISH);
    stream.input = new Uint8Array(0);
    return status === Z_STREAM_END ? out.slice(0, stream.next_out) : null;
  };
}

export function zstdCompressor(clusterSize: number, encode: ZstdEncode): CompressCluster {
  return (cluster) => {
    const compressed = encode(cluster, 3);
    return compressed.length <= clusterSize - 1 ? compressed : null;
  };
}

/**
 * Compresses clusters, possibly on other threads. The engine only needs this much; the CLI and
 * the browser provide pools of workers behind it.
 */
export interface ClusterCompressor {
  /** Must leave `cluster` as it is (neither changed nor transferred): the caller may still store it. */
  compress(cluster: Uint8Array): Promise<Uint8Array | null>;
  close?(): Promise<void>;
}

/** Compression on the calling thread. */
export function inlineCompressor(compress: CompressCluster): ClusterCompressor {
  return { compress: async (cluster) => compress(cluster) };
}

const SAMPLE = 1024;
/** Bits per byte above which a 1 KiB sample is taken for noise (random 1 KiB samples give ~7.8, text ~5). */
const NOISE_BITS = 7.3;
const LOG2 = new Float64Array(SAMPLE + 1).map((_, n) => (n > 0 ? Math.log2(n) : 0));

/**
 * A guess, from four 1 KiB samples, that deflate cannot shrink this cluster (already compressed
 * or encrypted data): every sample has near-maximal byte entropy and no two samples are alike.
 * Deflating such a cluster costs as much CPU as a compressible one, only to store it raw. Wrong
 * guesses store a cluster raw that might have shrunk a little: the image stays valid, a little larger.
 */
export function looksIncompressible(cluster: Uint8Array): boolean {
  if (cluster.length < 4 * SAMPLE) return false;
  const counts = new Uint16Array(256);
  const starts = [0, 1, 2, 3].map((i) => Math.floor((i * (cluster.length - SAMPLE)) / 3));
  for (const start of starts) {
    counts.fill(0);
    for (let i = start; i < start + SAMPLE; i++) counts[cluster[i]]++;
    // H = log2(N) - Σ c·log2(c) / N
    let sum = 0;
    for (let b = 0; b < 256; b++) sum += counts[b] * LOG2[counts[b]];
    if (LOG2[SAMPLE] - sum / SAMPLE < NOISE_BITS) return false;
  }
  // Repeated blocks of noise compress (a copied sector, a pattern): compare the samples' heads.
  for (let a = 0; a < 4; a++) {
    for (let b = a + 1; b < 4; b++) {
      let same = true;
      for (let i = 0; i < 64 && same; i++) same = cluster[starts[a] + i] === cluster[starts[b] + i];
      if (same) return false;
    }
  }
  return true;
}
