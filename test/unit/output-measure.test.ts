/**
 * The page refuses a job whose output cannot fit, from measureOutput's bound: for VMDK, VHD, VDI and
 * VHDX, with every option that makes the file larger, the bound holds for a disk full of data.
 */
import { describe, expect, it } from 'vitest';
import { convertImage, type OutputFormat } from '../../src/core/pipeline/convert-image.ts';
import { measureOutput } from '../../src/core/pipeline/measure.ts';
import { MemorySink } from '../../src/core/sink.ts';
import { openImage } from '../../src/core/open.ts';
import { MemoryStorage } from '../../src/core/storage/storage.ts';

const cases: Array<[OutputFormat, Record<string, string>]> = [
  ['vmdk', {}],
  ['vpc', {}],
  ['vpc', { subformat: 'fixed' }],
  ['vpc', { subformat: 'fixed', force_size: 'on' }],
  ['vdi', {}],
  ['vdi', { static: 'on' }],
  ['vhdx', {}],
  ['vhdx', { subformat: 'fixed' }],
  ['vhdx', { block_size: '1M', log_size: '4M' }],
];

describe.each([5 * 1024 * 1024 + 512, 9 * 1024 * 1024])('a %i-byte disk full of data', (size) => {
  for (const [format, options] of cases) {
    it(`-O ${format} ${JSON.stringify(options)}`, async () => {
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i += 4096) bytes[i] = 1 + (i % 251);
      const image = await openImage(new MemoryStorage(bytes, 'full.raw'), { format: 'raw' });
      const sink = new MemorySink();
      await convertImage(image, sink, { outputFormat: format, formatOptions: new Map(Object.entries(options)) });
      const bound = await measureOutput(image, { outputFormat: format, clusterSize: 65536 });
      expect(sink.bytes.length).toBeGreaterThan(size);
      expect(sink.bytes.length).toBeLessThanOrEqual(bound);
    });
  }
});
