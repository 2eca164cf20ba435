/**
 * How a qcow2 layer decodes compressed clusters. The defaults are portable JavaScript (pako,
 * fzstd); a platform may bring faster ones (native zlib in Node, WASM zstd) with the same
 * contract: fill `out` exactly, whatever follows the stream, or return null.
 */
import { RawInflater } from './inflate.ts';
import { zstdDecodeCluster } from './zstd-frames.ts';

export type DecodeCluster = (input: Uint8Array, out: Uint8Array) => Uint8Array | null;

/** The same contract, on another thread: `input` is only read before the promise settles. */
export type DecodeClusterLater = (input: Uint8Array, out: Uint8Array) => Promise<Uint8Array | null>;

export interface ClusterDecoders {
  zlib: DecodeCluster | DecodeClusterLater;
  zstd: DecodeCluster | DecodeClusterLater;
}

/** Decoders that answer on the calling thread. */
export interface InThreadDecoders extends ClusterDecoders {
  zlib: DecodeCluster;
  zstd: DecodeCluster;
}

export function portableDecoders(): InThreadDecoders {
  const inflater = new RawInflater();
  return { zlib: (input, out) => inflater.inflate(input, out), zstd: zstdDecodeCluster };
}
