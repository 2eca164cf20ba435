/**
 * Faster compressed-cluster decoders for the CLI: Node's native zlib, and libzstd in WASM. Where
 * they do not give exactly one cluster (a stream that overruns the cluster, or damage), the
 * portable decoders decide, since they follow QEMU's rules to the letter.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { portableDecoders, type DecodeCluster, type InThreadDecoders } from '../core/codecs/decoders.ts';
import { wasmZstdDecoder, type ZstdDecodeModule } from '../core/codecs/zstd-wasm-decoder.ts';

/** One for the process: each holds a decompression context and buffers in the WASM heap. */
let zstdWasm: Promise<DecodeCluster> | undefined;

function loadZstd(): Promise<DecodeCluster> {
  zstdWasm ??= (async () => {
    const require = createRequire(import.meta.url);
    const entry = require.resolve('@bokuweb/zstd-wasm');
    await (require(entry) as { init(): Promise<void> }).init();
    const { Module } = require(join(dirname(entry), 'module.js')) as { Module: ZstdDecodeModule };
    return wasmZstdDecoder(Module, portableDecoders().zstd);
  })();
  return zstdWasm;
}

export async function nodeDecoders(): Promise<InThreadDecoders> {
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
    zstd,
  };
}
