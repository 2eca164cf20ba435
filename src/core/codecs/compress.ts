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
