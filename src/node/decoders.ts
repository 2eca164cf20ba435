/**
 * Faster compressed-cluster decoders for the CLI: Node's native zlib, and libzstd in WASM. Where
 * they do not give exactly one cluster (a stream that overruns the cluster, or damage), the
 * portable decoders decide, since they follow QEMU's rules to the letter.
 */
import { createRequire } from 'node:module';
import { inflateRawSync } from 'node:zlib';
import { portableDecoders, type ClusterDecoders } from '../core/codecs/decoders.ts';
import { zstdFrameLength } from '../core/codecs/zstd-frames.ts';

interface ZstdWasm {
  init(): Promise<void>;
  decompress(data: Uint8Array): Uint8Array;
}

let zstdWasm: Promise<ZstdWasm> | undefined;

function loadZstd(): Promise<ZstdWasm> {
  zstdWasm ??= (async () => {
    const module = createRequire(import.meta.url)('@bokuweb/zstd-wasm') as ZstdWasm;
    await module.init();
    return module;
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
      const length = zstdFrameLength(input, 0);
      if (length > 0) {
        try {
          const decoded = zstd.decompress(input.subarray(0, length));
          if (decoded.length === out.length) {
            out.set(decoded);
            return out;
          }
        } catch {
          // Several frames, no content size, or damage: the portable decoder handles them.
        }
      }
      return portable.zstd(input, out);
    },
  };
}
