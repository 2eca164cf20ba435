/**
 * A sink that can only append gets the same VMDK, VHD, VDI and VHDX bytes as a seekable one (which are
 * qemu-img's, see test/interop/write-formats.test.ts): the generic two-pass path plans the file,
 * then emits it in order. The fields drawn at random differ between two conversions and are
 * masked (VMDK: the descriptor, for its CID; VHD footer: timestamp, checksum, UUID; VDI: its two UUIDs;
 * VHDX: see vhdxFields).
 */
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertImage, type ConvertImageOptions } from '../../src/core/pipeline/convert-image.ts';
import { convertToOutput } from '../../src/core/pipeline/convert-output.ts';
import type { OutputDriver } from '../../src/core/formats/output/driver.ts';
import type { HostFile } from '../../src/core/formats/output/host-file.ts';
import { MemorySink } from '../../src/core/sink.ts';
import { pattern } from '../interop/fixtures.ts';
import { open, qemuImg, scratchDir } from '../support/qemu.ts';
import { AppendOnlySink } from '../support/append-only-sink.ts';

let raw: string;
let qcow2: string;
let dir: string;

beforeAll(() => {
  dir = scratchDir();
  raw = join(dir, 'source.raw');
  const parts = [
    pattern('text', 3_000_000, 1),
    pattern('zero', 2_500_000, 0),
    pattern('random', 700_000, 2),
    pattern('zero', 4_000_000, 0),
    pattern('text', 2_000_512, 3),
  ];
  writeFileSync(raw, Buffer.concat(parts));
  qcow2 = join(dir, 'source.qcow2');
  qemuImg('convert', '-q', '-c', '-f', 'raw', '-O', 'qcow2', raw, qcow2);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const footerFields = (at: number): Array<[number, number]> => [
  [at + 24, 4],
  [at + 64, 20],
];

const cases: Array<[string, ConvertImageOptions['outputFormat'], Record<string, string>, (length: number) => Array<[number, number]>]> = [
  ['dynamic VHD', 'vpc', {}, (length) => [...footerFields(0), ...footerFields(length - 512)]],
  ['fixed VHD', 'vpc', { subformat: 'fixed' }, (length) => footerFields(length - 512)],
  ['fixed VHD, force_size', 'vpc', { subformat: 'fixed', force_size: 'on' }, (length) => footerFields(length - 512)],
  ['dynamic VDI', 'vdi', {}, () => [[0x188, 32]]],
  ['static VDI', 'vdi', { static: 'on' }, () => [[0x188, 32]]],
  ['monolithicSparse VMDK', 'vmdk', {}, () => [[512, 10240]]],
  ['dynamic VHDX, 1 MiB blocks', 'vhdx', { block_size: '1M' }, () => vhdxFields(3 * MiB)],
  ['fixed VHDX', 'vhdx', { subformat: 'fixed' }, () => vhdxFields(3 * MiB)],
];

const MiB = 1024 * 1024;
/** The VHDX headers' random fields, the log entries' checksums and GUIDs (the log holds at most 16 here), the page 83 serial. */
function vhdxFields(metadataOffset: number): Array<[number, number]> {
  const log = Array.from({ length: 16 }, (_, i): Array<[number, number]> => [
    [MiB + i * 8192 + 4, 4],
    [MiB + i * 8192 + 32, 16],
  ]).flat();
  return [[0x10004, 60], [0x20004, 60], ...log, [metadataOffset + 65536 + 16, 16]];
}

function mask(bytes: Uint8Array, ranges: Array<[number, number]>): Buffer {
  const copy = Buffer.from(bytes);
  for (const [at, length] of ranges) copy.fill(0, at, at + length);
  return copy;
}

describe.each([
  ['a raw source', () => raw, 'raw'],
  ['a compressed qcow2 source', () => qcow2, 'qcow2'],
])('from %s', (_, file, format) => {
  for (const [name, outputFormat, options, fields] of cases) {
    it(name, async () => {
      const seekable = new MemorySink();
      const stream = new AppendOnlySink();
      const image = await open(file(), { format });
      const progress: number[] = [];
      try {
        await convertImage(image, seekable, { outputFormat, formatOptions: new Map(Object.entries(options)) });
        await convertImage(image, stream, {
          outputFormat,
          formatOptions: new Map(Object.entries(options)),
          onProgress: (done) => progress.push(done),
        });
      } finally {
        await image.close();
      }
      expect(stream.length).toBe(seekable.bytes.length);
      const ranges = fields(stream.length);
      // The masked fields are random: the two conversions differ there, and only there.
      expect(Buffer.compare(stream.bytes(), Buffer.from(seekable.bytes))).not.toBe(0);
      expect(Buffer.compare(mask(stream.bytes(), ranges), mask(seekable.bytes, ranges))).toBe(0);
      const written = join(dir, `${name.replace(/\W/g, '_')}.${format}.out`);
      writeFileSync(written, stream.bytes());
      expect(qemuImg('compare', '-f', format, '-F', outputFormat, file(), written)).toMatch(/Images are identical\.\n$/);
      // Progress runs through both passes, never backwards, to the whole disk.
      expect(progress.every((p, i) => i === 0 || p >= progress[i - 1])).toBe(true);
      expect(progress.at(-1)).toBe(image.virtualSize);
    });
  }
});

it('refuses an output of several files (a monolithicFlat VMDK) on a download stream', async () => {
  const image = await open(raw, { format: 'raw' });
  try {
    await expect(
      convertImage(image, new AppendOnlySink(), {
        outputFormat: 'vmdk',
        formatOptions: new Map([['subformat', 'monolithicFlat']]),
        outputFileName: 'disk.vmdk',
      }),
    ).rejects.toThrow('This output is 2 files (disk-flat.vmdk beside it): it needs a folder to write them into, not a download stream');
  } finally {
    await image.close();
  }
});

it('gives a download stream a writer that writes front to back in one pass (OutputDriver.streams)', async () => {
  // A stand-in for VMDK streamOptimized: the guest disk as it is, data and zeros in order.
  const inOrder: OutputDriver<null> = {
    name: 'in-order',
    title: 'test',
    extension: 'img',
    options: [],
    compression: false,
    streams: () => true,
    create: async (host: HostFile, size: number) => {
      let end = 0;
      const zerosTo = async (to: number) => {
        if (to > end) await host.zeros(end, to - end);
        end = Math.max(end, to);
      };
      return {
        write: async (at: number, bytes: Uint8Array) => {
          await zerosTo(at);
          await host.data(at, bytes, at);
          end = at + bytes.length;
        },
        finish: () => zerosTo(size),
      };
    },
  };
  const image = await open(raw, { format: 'raw' });
  const stream = new AppendOnlySink();
  let reads = 0;
  const counting = Object.assign(Object.create(image), {
    readInto: (offset: number, target: Uint8Array) => (reads++, image.readInto(offset, target)),
    read: (offset: number, length: number) => (reads++, image.read(offset, length)),
  });
  try {
    await convertToOutput(counting, stream, inOrder, null);
    const disk = readFileSync(raw);
    // The disk in whole sectors, as qemu-img creates outputs.
    expect(Buffer.compare(stream.bytes(), Buffer.concat([disk, Buffer.alloc(Math.ceil(disk.length / 512) * 512 - disk.length)]))).toBe(0);
    // One pass: the source's data is read once (the planning pass would read it twice).
    const once = reads;
    reads = 0;
    await convertToOutput(counting, new MemorySink(), inOrder, null);
    expect(once).toBe(reads);
  } finally {
    await image.close();
  }
});
