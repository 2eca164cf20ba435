/**
 * Azure takes only fixed VHDs whose virtual size is a whole number of MiB. The engine can make the
 * output larger than its source (targetSize): the file is then what `qemu-img create -f vpc -o
 * subformat=fixed,force_size=on FILE SIZE` followed by `qemu-img convert -n` into it gives, but
 * for the footer's timestamp, checksum and UUID.
 */
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { convertImage } from '../../src/core/pipeline/convert-image.ts';
import { azureVhdSize } from '../../src/core/pipeline/convert-output.ts';
import { MemorySink } from '../../src/core/sink.ts';
import { pattern } from '../interop/fixtures.ts';
import { open, qemuImg, scratchDir } from '../support/qemu.ts';

let dir: string;
let raw: string;
beforeAll(() => {
  dir = scratchDir();
  raw = join(dir, 'source.raw');
  writeFileSync(raw, Buffer.concat([pattern('text', 3_000_000, 1), pattern('zero', 1_000_000, 0), pattern('random', 700_512, 2)]));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const maskFooter = (bytes: Uint8Array): Buffer => {
  const copy = Buffer.from(bytes);
  const at = copy.length - 512;
  copy.fill(0, at + 24, at + 28);
  copy.fill(0, at + 64, at + 84);
  return copy;
};

it('rounds a fixed VHD up to a whole MiB for Azure, as qemu-img create + convert -n does', async () => {
  const image = await open(raw, { format: 'raw' });
  const size = azureVhdSize(image.virtualSize);
  expect(size).toBe(5 * 1024 * 1024);
  const sink = new MemorySink();
  try {
    await convertImage(image, sink, {
      outputFormat: 'vpc',
      formatOptions: new Map([
        ['subformat', 'fixed'],
        ['force_size', 'on'],
      ]),
      targetSize: size,
    });
  } finally {
    await image.close();
  }
  const theirs = join(dir, 'azure.qemu.vhd');
  qemuImg('create', '-q', '-f', 'vpc', '-o', 'subformat=fixed,force_size=on', theirs, String(size));
  qemuImg('convert', '-n', '-f', 'raw', '-O', 'vpc', raw, theirs);
  const ours = join(dir, 'azure.ours.vhd');
  writeFileSync(ours, sink.bytes);
  expect(JSON.parse(qemuImg('info', '-f', 'vpc', '--output=json', ours))['virtual-size']).toBe(size);
  expect(Buffer.compare(maskFooter(sink.bytes), maskFooter(readFileSync(theirs)))).toBe(0);
  expect(qemuImg('compare', '-f', 'raw', '-F', 'vpc', raw, ours)).toMatch(/Images are identical\.\n$/);
});

it('refuses a target size that is not whole sectors', async () => {
  const image = await open(raw, { format: 'raw' });
  try {
    await expect(convertImage(image, new MemorySink(), { outputFormat: 'vdi', targetSize: 10 * 1024 * 1024 + 1 })).rejects.toThrow(
      "The output's size must be a whole number of 512-byte sectors (10485761 is not)",
    );
  } finally {
    await image.close();
  }
});
