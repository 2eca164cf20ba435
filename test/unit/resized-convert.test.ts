/**
 * A conversion that resizes as it goes (the page's "new virtual size") makes the disk that
 * `qemu-img convert` then `qemu-img resize` makes: qemu-img compare finds them identical, at the
 * same virtual size. A shrink that would cut off data is refused with both numbers.
 */
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { convertImage } from '../../src/core/pipeline/convert-image.ts';
import { dataEnd, resizedImage } from '../../src/core/pipeline/resized.ts';
import { MemorySink } from '../../src/core/sink.ts';
import { DiskImgError } from '../../src/core/errors.ts';
import { pattern } from '../interop/fixtures.ts';
import { open, qemuImg, qemuIo, scratchDir } from '../support/qemu.ts';

const MiB = 1 << 20;
let dir: string;
let qcow2: string;
beforeAll(() => {
  dir = scratchDir();
  const raw = join(dir, 'source.raw');
  // 8 MiB: data in the first 3 MiB only, then a qcow2 of it with one more write at 5 MiB.
  writeFileSync(raw, Buffer.concat([pattern('text', 2 * MiB, 1), pattern('random', MiB, 2), Buffer.alloc(5 * MiB)]));
  qcow2 = join(dir, 'source.qcow2');
  qemuImg('convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, qcow2);
  qemuIo(qcow2, 'write -P 0x5a 5M 64k');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function convertResized(format: 'qcow2' | 'raw', newSize: number, name: string): Promise<string> {
  const image = await resizedImage(await open(qcow2), newSize);
  const sink = new MemorySink();
  try {
    await convertImage(image, sink, { outputFormat: format });
  } finally {
    await image.close();
  }
  const out = join(dir, name);
  writeFileSync(out, sink.bytes);
  return out;
}

function theirs(format: 'qcow2' | 'raw', size: number, name: string, shrink: boolean): string {
  const out = join(dir, name);
  qemuImg('convert', '-q', '-f', 'qcow2', '-O', format, qcow2, out);
  qemuImg('resize', '-q', ...(shrink ? ['--shrink'] : []), '-f', format, out, String(size));
  return out;
}

const virtualSize = (file: string, format: string) => JSON.parse(qemuImg('info', '-f', format, '--output=json', file))['virtual-size'];

for (const format of ['qcow2', 'raw'] as const) {
  it(`grows a ${format} output as convert + resize does`, async () => {
    const size = 40 * MiB;
    const ours = await convertResized(format, size, `grown.ours.${format}`);
    const reference = theirs(format, size, `grown.qemu.${format}`, false);
    expect(virtualSize(ours, format)).toBe(size);
    expect(qemuImg('compare', '-f', format, '-F', format, reference, ours)).toMatch(/Images are identical/);
    if (format === 'qcow2') expect(qemuImg('check', ours)).toMatch(/No errors were found/);
  });

  it(`shrinks a ${format} output down to its last data as convert + resize --shrink does`, async () => {
    const size = 6 * MiB;
    const ours = await convertResized(format, size, `shrunk.ours.${format}`);
    const reference = theirs(format, size, `shrunk.qemu.${format}`, true);
    expect(virtualSize(ours, format)).toBe(size);
    expect(qemuImg('compare', '-f', format, '-F', format, reference, ours)).toMatch(/Images are identical/);
  });
}

it('finds the end of the last data written', async () => {
  const image = await open(qcow2);
  try {
    expect(await dataEnd(image)).toBe(5 * MiB + 64 * 1024);
  } finally {
    await image.close();
  }
});

it('refuses a shrink below the last data, naming both sizes', async () => {
  const image = await open(qcow2);
  try {
    const refusal = await resizedImage(image, 4 * MiB).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(DiskImgError);
    expect((refusal as DiskImgError).message).toBe(
      `The disk holds data up to byte ${5 * MiB + 65536}: it cannot be shrunk to ${4 * MiB} bytes without losing it (the smallest size that keeps it all is ${5 * MiB + 65536})`,
    );
  } finally {
    await image.close();
  }
});

it('refuses a size that is not whole sectors, or none', async () => {
  const image = await open(qcow2);
  try {
    for (const bad of [8 * MiB + 1, 0, -512, 1.5])
      await expect(resizedImage(image, bad)).rejects.toThrow(/whole number of 512-byte sectors, above 0/);
  } finally {
    await image.close();
  }
});
