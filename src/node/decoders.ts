/**
 * Faster compressed-cluster decoders for the CLI: Node's native zlib, and libzstd in WASM. Where
 * they do not give exactly one cluster (a stream that overruns the cluster, or damage), the
 * portable decoders decide, since they follow QEMU's rules to the letter.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { portableDecoders, type ClusterDecoders } from '../core/codecs/decoders.ts';
import { zstdFrameLength } from '../core/codecs/zstd-frames.ts';

interface ZstdModule {
  HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(pointer: number): void;
  _ZSTD_createDCtx(): number;
  _ZSTD_decompress_usingDict(dctx: number, dst: number, capacity: number, src: number, size: number, dict: number, dictSize: number): number;
  _ZSTD_isError(code: number): number;
}

/** Decodes one frame with a reused context and buffers (the package's decompress() allocates per call). */
type FrameDecoder = (frame: Uint8Array, out: Uint8Array) => boolean;

let zstdWasm: Promise<(clusterSize: number) => FrameDecoder> | undefined;

function loadZstd(): Promise<(clusterSize: number) => FrameDecoder> {
  zstdWasm ??= (async () => {
    const require = createRequire(import.meta.url);
    const entry = require.resolve('@bokuweb/zstd-wasm');
    await (require(entry) as { init(): Promise<void> }).init();
    const { Module } = require(join(dirname(entry), 'module.js')) as { Module: ZstdModule };
    const dctx = Module._ZSTD_createDCtx();
    const buffers = new Map<number, { src: number; dst: number; capacity: number }>();
    return (clusterSize: number) => (frame, out) => {
      let b = buffers.get(clusterSize);
      if (!b) {
        b = { src: Module._malloc(clusterSize * 2), dst: Module._malloc(clusterSize), capacity: clusterSize * 2 };
        buffers.set(clusterSize, b);
      }
      if (frame.length > b.capacity) return false;
      Module.HEAPU8.set(frame, b.src);
      const size = Module._ZSTD_decompress_usingDict(dctx, b.dst, clusterSize, b.src, frame.length, 0, 0);
      if (Module._ZSTD_isError(size) || size !== out.length) return false;
      out.set(Module.HEAPU8.subarray(b.dst, b.dst + size));
      return true;
    };
  })();
  return zstdWasm;
}

export async function nodeDecoders(): Promise<ClusterDecoders> {
  const portable = portableDecoders();
  const zstd = await loadZstd();
  return {
    zlib(input, out) {
      try {
        const decoded = inflateRawSync(input);
        if (decoded.length === out.length) {
          out.set(decoded);
          return out;
        }
      } catch {
        // Trailing bytes, or damage: let the exact decoder judge.
      }
      return portable.zlib(input, out);
    },
    zstd(input, out) {
      // One frame that fills the cluster is the common case; several frames, or damage, go to
      // the portable decoder, which follows QEMU's rules to the letter.
      const length = zstdFrameLength(input, 0);
      if (length > 0 && zstd(out.length)(input.subarray(0, length), out)) return out;
      return portable.zstd(input, out);
    },
  };
}
