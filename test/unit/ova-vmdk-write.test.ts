/**
 * The OVA and streamOptimized writers' own edges, in memory: the tar header for members of 8 GiB
 * and more (base-256 size, read back by our tar reader and GNU tar's rules), names tar cannot
 * hold, a source that changes between the two passes of an append-only OVA, grains out of order.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DiskImage } from '../../src/core/disk.ts';
import { DiskImgError } from '../../src/core/errors.ts';
import { openImage } from '../../src/core/open.ts';
import { listTar } from '../../src/core/formats/ova/tar.ts';
import { convertToOva } from '../../src/core/formats/ova/write/convert.ts';
import { tarHeader } from '../../src/core/formats/ova/write/tar-header.ts';
import { StreamOptimizedWriter } from '../../src/core/formats/vmdk/write/stream-optimized.ts';
import { MemorySink } from '../../src/core/sink.ts';
import { MemoryStorage } from '../../src/core/storage/storage.ts';
import { AppendOnlySink } from '../support/append-only-sink.ts';

const settings = { adapterType: 'ide', hwVersion: '4', toolsVersion: '2147483647', zeroedGrain: false, cid: 1, extentName: 'disk.vmdk' };

describe('tar member headers', () => {
  it('states sizes of 8 GiB and more in base-256, as our reader (and GNU tar) read them', async () => {
    const size = 3 * 2 ** 33 + 12345;
    const archive = new Uint8Array(512 * 4);
    archive.set(tarHeader('big.vmdk', size, 0));
    expect(archive[124]).toBe(0x80);
    // Both read the size; the member's data is missing from this small archive, which both notice.
    await expect(listTar(new MemoryStorage(archive, 'big.ova'))).rejects.toThrow(
      `the tar member at offset 0 claims ${size} bytes, past the end of the file`,
    );
    const file = join(mkdtempSync(join(tmpdir(), 'diskimg-tar-')), 'big.tar');
    writeFileSync(file, archive);
    const listing = spawnSync('tar', ['tvf', file], { encoding: 'utf8' }).stdout;
    expect(listing).toMatch(new RegExp(`^-rw-r--r-- root/root ${size} 1970-01-01 00:00 big\\.vmdk$`, 'm'));
    rmSync(dirname(file), { recursive: true });
  });

  it('refuses a name tar cannot hold, saying which', () => {
    expect(() => tarHeader('x'.repeat(101), 1, 0)).toThrow(/1 to 100 printable ASCII/);
    expect(() => tarHeader('dïsk.vmdk', 1, 0)).toThrow(/dïsk\.vmdk/);
  });
});

describe('the OVA on an append-only sink', () => {
  it('fails clearly when the source reads differently on the second pass', async () => {
    const bytes = new Uint8Array(256 * 1024).map((_, i) => (i * 7) & 0xff);
    const image = await openImage(new MemoryStorage(bytes, 'moving.raw'), { format: 'raw' });
    let reads = 0;
    // Every read after the first pass's sees noise: the disk deflates to another length.
    const moving: DiskImage = Object.create(image, {
      read: {
        value: async (offset: number, length: number) =>
          reads++ < 4 ? image.read(offset, length) : crypto.getRandomValues(new Uint8Array(length)),
      },
      readInto: {
        value: async (offset: number, target: Uint8Array) =>
          target.set(reads++ < 4 ? await image.read(offset, target.length) : crypto.getRandomValues(new Uint8Array(target.length))),
      },
    });
    const error = await convertToOva(moving, new AppendOnlySink({ keep: false }), {
      ova: { cpus: 1, memory: 256, controller: 'scsi', manifest: true },
      defaultName: 'vm',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DiskImgError);
    expect((error as DiskImgError).message).toMatch(
      /the disk came out at \d+ bytes on the second pass, \d+ on the first: the source changed/,
    );
  });
});

describe('the streamOptimized writer', () => {
  it('takes grains in guest order only', async () => {
    const writer = await StreamOptimizedWriter.create(new MemorySink(), 10 * 65536, settings, 'qemu');
    await writer.writeGrain(3, new Uint8Array(10));
    await expect(writer.writeGrain(2, new Uint8Array(10))).rejects.toThrow(/grain 2 out of order/);
    await expect(writer.writeGrain(10, new Uint8Array(10))).rejects.toThrow(/past the disk's 10 grains/);
  });

  it('refuses to pass 2 TiB, where grain table entries (32-bit sectors) end', async () => {
    // A sink that keeps nothing: only where the grains land matters.
    const writer = await StreamOptimizedWriter.create({ write: async () => {}, close: async () => {} }, 8 * 2 ** 40, settings, 'stream');
    const noise = new Uint8Array(64 * 2 ** 20 - 12);
    let error: unknown;
    for (let grain = 0; grain < 2 ** 20 && !error; grain++) await writer.writeGrain(grain, noise).catch((e: unknown) => (error = e));
    expect(error).toBeInstanceOf(DiskImgError);
    expect((error as DiskImgError).message).toMatch(/The VMDK would pass 2 TiB at grain \d+: its grain tables hold 32-bit sector numbers/);
  });
});
