/**
 * The allocation picture (what the UI's map draws) on qemu-img-made images of known layout, and
 * its totals against qemu-img map's own account of the same chain.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALLOCATION_CLASSES, allocationPicture, layerHoldings, type AllocationClass } from '../../src/core/allocation.ts';
import { DiskImgError } from '../../src/core/errors.ts';
import { open, qemuImg, qemuIo, scratchDir } from '../support/qemu.ts';

const MiB = 1 << 20;
let dir: string;
let base: string;
let top: string;

beforeAll(() => {
  dir = scratchDir('diskimg-allocation-');
  base = join(dir, 'base.qcow2');
  top = join(dir, 'top.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', base, '64M');
  qemuIo(base, 'write -P 0x11 0 8M', 'write -c -P 0x22 16M 64k');
  qemuImg('create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', top);
  qemuIo(top, 'write -P 0x33 4M 4M', 'write -z 32M 4M', 'write -P 0x44 60M 1M');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The bytes of one class in one part of the picture. */
const at = (bytes: Float64Array, bucket: number, c: AllocationClass) =>
  bytes[bucket * ALLOCATION_CLASSES.length + ALLOCATION_CLASSES.indexOf(c)];

describe('allocation picture', () => {
  it('places each kind of extent in its part of the disk, backing layers apart', async () => {
    const image = await open(top);
    const picture = await allocationPicture(image, 64);
    await image.close();
    expect(picture.bucketSize).toBe(MiB);
    for (let b = 0; b < 64; b++) {
      const expected: Partial<Record<AllocationClass, number>> =
        b < 4
          ? { backing: MiB }
          : b < 8
            ? { data: MiB }
            : b === 16
              ? { backing: 64 * 1024, unallocated: MiB - 64 * 1024 }
              : b >= 32 && b < 36
                ? { zero: MiB }
                : b === 60
                  ? { data: MiB }
                  : { unallocated: MiB };
      for (const c of ALLOCATION_CLASSES) expect(at(picture.bytes, b, c), `part ${b} ${c}`).toBe(expected[c] ?? 0);
    }
    expect(picture.totals).toEqual({
      data: 5 * MiB,
      compressed: 0,
      zero: 4 * MiB,
      unallocated: 64 * MiB - 13 * MiB - 64 * 1024,
      backing: 4 * MiB + 64 * 1024,
      missing: 0,
    });
  });

  it('a chain stopped at a backing file not given calls what that file holds missing, not unallocated', async () => {
    const image = await open(top, { resolveBacking: async () => null, partialChain: true });
    const picture = await allocationPicture(image, 64);
    await image.close();
    expect(image.missingBacking).toBe('base.qcow2');
    expect(picture.totals).toEqual({
      data: 5 * MiB,
      compressed: 0,
      zero: 4 * MiB,
      unallocated: 0,
      backing: 0,
      missing: 64 * MiB - 9 * MiB,
    });
  });

  it('shows compressed clusters of the image itself as compressed', async () => {
    const image = await open(base);
    const picture = await allocationPicture(image, 64);
    await image.close();
    expect(at(picture.bytes, 16, 'compressed')).toBe(64 * 1024);
    expect(picture.totals.data).toBe(8 * MiB);
  });

  it('agrees with qemu-img map on how much each layer decides', async () => {
    const entries = JSON.parse(qemuImg('map', '--output=json', top)) as Array<{
      length: number;
      depth: number;
      present: boolean;
      zero: boolean;
      data: boolean;
    }>;
    const qemu = { top: 0, backing: 0, zero: 0, unallocated: 0 };
    for (const e of entries) {
      if (!e.present) qemu.unallocated += e.length;
      else if (e.zero) qemu.zero += e.length;
      else if (e.depth === 0) qemu.top += e.length;
      else qemu.backing += e.length;
    }
    const image = await open(top);
    const { totals } = await allocationPicture(image, 1000);
    await image.close();
    expect({ top: totals.data + totals.compressed, backing: totals.backing, zero: totals.zero, unallocated: totals.unallocated }).toEqual(
      qemu,
    );
  });

  it('zooms: a sub-range is cut at its edges, parts of uneven size included', async () => {
    const image = await open(top);
    const picture = await allocationPicture(image, 3, 3 * MiB + 512, 5 * MiB);
    await image.close();
    const sum = (c: AllocationClass) => [0, 1, 2].reduce((total, b) => total + at(picture.bytes, b, c), 0);
    expect(sum('backing')).toBe(MiB - 512);
    expect(sum('data')).toBe(MiB);
    expect(picture.totals.backing + picture.totals.data).toBe(2 * MiB - 512);
  });

  it('draws a 4 TiB sparse disk from a handful of extents', async () => {
    const big = join(dir, 'big.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', big, '4T');
    qemuIo(big, 'write -P 0x7 3T 64k');
    const image = await open(big);
    const picture = await allocationPicture(image, 4096);
    await image.close();
    expect(picture.totals.data).toBe(65536);
    expect(at(picture.bytes, 3072, 'data')).toBe(65536);
  });

  it('counts what each layer holds by itself', async () => {
    const image = await open(top);
    expect(await layerHoldings(image.layers[0])).toEqual({ held: 5 * MiB, zero: 4 * MiB });
    expect(await layerHoldings(image.layers[1])).toEqual({ held: 8 * MiB + 64 * 1024, zero: 0 });
    await image.close();
  });

  it('refuses a picture of no parts, too many parts or an empty range', async () => {
    const image = await open(top);
    await expect(allocationPicture(image, 0)).rejects.toThrow(/1 to 8192 parts, not 0/);
    await expect(allocationPicture(image, 100_000)).rejects.toBeInstanceOf(DiskImgError);
    await expect(allocationPicture(image, 10, 5 * MiB, 4 * MiB)).rejects.toThrow(/Invalid range 5242880–4194304/);
    // An empty range (a zero-sized disk) is an empty picture, not an error.
    expect((await allocationPicture(image, 10, 5 * MiB, 5 * MiB)).totals.data).toBe(0);
    await image.close();
  });
});
