/**
 * zstd cluster decoding with libzstd in WebAssembly (the emscripten Module of @bokuweb/zstd-wasm,
 * which the CLI and the page load each their own way): several times faster than fzstd. Where it
 * does not give exactly one cluster (several frames, or damage), the portable decoder decides,
 * since it follows QEMU's rules to the letter.
 */
import type { DecodeCluster } from './decoders.ts';
import { zstdFrameLength } from './zstd-frames.ts';

/** The Module's exports that decoding needs. */
export interface ZstdDecodeModule {
  HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _ZSTD_createDCtx(): number;
  _ZSTD_decompress_usingDict(
    dctx: number,
    dst: number,
    capacity: number,
    src: number,
    size: number,
    dict: number,
    dictSize: number,
  ): number;
  _ZSTD_isError(code: number): number;
}

/**
 * One decompression context and fixed buffers per cluster size for the Module's life (the
 * package's decompress() allocates per call).
 */
export function wasmZstdDecoder(Module: ZstdDecodeModule, portable: DecodeCluster): DecodeCluster {
  const dctx = Module._ZSTD_createDCtx();
  const buffers = new Map<number, { src: number; dst: number; capacity: number }>();
  const decodeFrame = (frame: Uint8Array, out: Uint8Array): boolean => {
    const clusterSize = out.length;
    let b = buffers.get(clusterSize);
    if (!b) {
      b = { src: Module._malloc(clusterSize * 2), dst: Module._malloc(clusterSize), capacity: clusterSize * 2 };
      buffers.set(clusterSize, b);
    }
    if (frame.length > b.capacity) return false;
    Module.HEAPU8.set(frame, b.src);
    const size = Module._ZSTD_decompress_usingDict(dctx, b.dst, clusterSize, b.src, frame.length, 0, 0);
    if (Module._ZSTD_isError(size) || size !== clusterSize) return false;
    out.set(Module.HEAPU8.subarray(b.dst, b.dst + size));
    return true;
  };
  return (input, out) => {
    // One frame that fills the cluster is the common case.
    const length = zstdFrameLength(input, 0);
    if (length > 0 && decodeFrame(input.subarray(0, length), out)) return out;
    return portable(input, out);
  };
}
