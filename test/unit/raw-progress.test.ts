/**
 * Converting to raw on a sink that cannot leave holes (a download stream) writes every zero of a
 * hole, and says how far it got as it goes: a 16 GiB sparse disk streamed to a download otherwise
 * showed "1 MiB of 16 GiB · 0 MB/s" until its very end.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { convertImage } from '../../src/core/pipeline/convert-image.ts';
import { CHUNK_BYTES } from '../../src/core/pipeline/convert.ts';
import { AppendOnlySink } from '../support/append-only-sink.ts';
import { open, qemuImg, qemuIo, scratchDir } from '../support/qemu.ts';

const dir = scratchDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('a hole streamed as zeros reports progress chunk by chunk, in order, up to the whole size', async () => {
  const file = join(dir, 'sparse.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', file, '64M');
  qemuIo(file, 'write -P 0x33 0 1M');
  const image = await open(file);
  const sink = new AppendOnlySink({ keep: false });
  const progress: number[] = [];
  try {
    await convertImage(image, sink, { outputFormat: 'raw', onProgress: (done) => progress.push(done) });
  } finally {
    await image.close();
  }
  expect(sink.length).toBe(64 << 20);
  // The 63 MiB hole alone is 16 chunks: each one reported as it is written.
  expect(progress.filter((done) => done > 1 << 20 && done < 64 << 20).length).toBeGreaterThanOrEqual(
    Math.floor((63 << 20) / CHUNK_BYTES) - 1,
  );
  expect(progress.every((done, i) => i === 0 || done >= progress[i - 1])).toBe(true);
  expect(progress.at(-1)).toBe(64 << 20);
});
