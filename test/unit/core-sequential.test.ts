/**
 * A sink that can only append gets the very same qcow2 bytes as a seekable one (which are
 * qemu-img's, see the write matrix), for layouts that move the reftable, pack compressed
 * clusters across cluster boundaries, or preallocate.
 */
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deflateCompressor, inlineCompressor, type ClusterCompressor } from '../../src/core/codecs/compress.ts';
import type { Qcow2WriteOptions } from '../../src/core/formats/qcow2/write/writer.ts';
import { convertToQcow2 } from '../../src/core/pipeline/convert-qcow2.ts';
import { convertToQcow2Sequential } from '../../src/core/pipeline/convert-qcow2-sequential.ts';
import { MemorySink } from '../../src/core/sink.ts';
import { NodeCompressorPool } from '../../src/node/compress-pool.ts';
import { pattern } from '../interop/fixtures.ts';
import { open, qemuImg, scratchDir } from '../support/qemu.ts';
import { AppendOnlySink } from '../support/append-only-sink.ts';

let raw: string;
let qcow2: string;
let zstd: ClusterCompressor;
let dir: string;

beforeAll(() => {
  dir = scratchDir();
  raw = join(dir, 'source.raw');
  const parts = [
    pattern('text', 3_000_000, 1),
    pattern('zero', 1_500_000, 0),
    pattern('random', 700_000, 2),
    pattern('text', 2_000_512, 3),
  ];
  writeFileSync(raw, Buffer.concat(parts));
  qcow2 = join(dir, 'source.qcow2');
  qemuImg('convert', '-q', '-c', '-f', 'raw', '-O', 'qcow2', raw, qcow2);
  zstd = new NodeCompressorPool('zstd', 65536, 2);
});

afterAll(async () => {
  await zstd.close?.();
  rmSync(dir, { recursive: true, force: true });
});

const cases: Array<[string, Partial<Qcow2WriteOptions>, () => ClusterCompressor | undefined]> = [
  ['default options', {}, () => undefined],
  ['512-byte clusters with 64-bit refcounts (the reftable moves)', { clusterSize: 512, refcountBits: 64 }, () => undefined],
  ['2 MiB clusters', { clusterSize: 2 * 1024 * 1024 }, () => undefined],
  ['preallocation=metadata', { preallocation: 'metadata' }, () => undefined],
  ['zlib compression', {}, () => inlineCompressor(deflateCompressor(65536))],
  ['zlib compression, 4 KiB clusters', { clusterSize: 4096 }, () => inlineCompressor(deflateCompressor(4096))],
  ['zstd compression', { compressionType: 'zstd' }, () => zstd],
];

describe.each([
  ['a raw source', () => raw, 'raw'],
  ['a compressed qcow2 source', () => qcow2, 'qcow2'],
])('from %s', (_, file, format) => {
  for (const [name, qcow2Options, compressor] of cases) {
    it(name, async () => {
      const seekable = new MemorySink();
      const stream = new AppendOnlySink();
      const image = await open(file(), { format });
      try {
        await convertToQcow2(image, seekable, { qcow2: qcow2Options, compressor: compressor() });
        await convertToQcow2Sequential(image, stream, { qcow2: qcow2Options, compressor: compressor() });
      } finally {
        await image.close();
      }
      expect(stream.length).toBe(seekable.bytes.length);
      expect(Buffer.compare(stream.bytes(), Buffer.from(seekable.bytes))).toBe(0);
    });
  }
});
