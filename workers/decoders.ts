/**
 * The page's compressed-cluster decoders (the CLI's are in src/node/decoders.ts): zstd by libzstd
 * in WASM once it is loaded (fzstd took 3 times as long), the portable decoders otherwise.
 */
import { init as initZstd } from '@bokuweb/zstd-wasm';
import { Module as zstdModule } from 'zstd-wasm-module';
import { portableDecoders, type ClusterDecoders, type DecodeCluster } from '../src/core/codecs/decoders.ts';
import { wasmZstdDecoder } from '../src/core/codecs/zstd-wasm-decoder.ts';
import type { DiskImage } from '../src/core/disk.ts';

const portable = portableDecoders();
let wasmZstd: DecodeCluster | undefined;

/** For conversions: libzstd decodes zstd clusters from the moment loadZstdDecoderFor has loaded it. */
export const conversionDecoders: ClusterDecoders = { zlib: portable.zlib, zstd: (input, out) => (wasmZstd ?? portable.zstd)(input, out) };

/** Loads libzstd only for a chain that holds zstd clusters (most jobs have none). */
export async function loadZstdDecoderFor(image: DiskImage): Promise<void> {
  if (wasmZstd || !image.layers.some((layer) => layer.codecs?.includes('zstd'))) return;
  await initZstd();
  wasmZstd = wasmZstdDecoder(zstdModule, portable.zstd);
}
