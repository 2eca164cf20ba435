/**
 * Hostile and damaged partition tables and superblocks: every check reports clearly (a warning,
 * or the table refused), and nothing hangs or reads more than a bounded few bytes. Tables start
 * from small real ones (sgdisk, sfdisk) and are damaged in memory copies.
 */
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32 } from '../../src/core/partitions/bytes.ts';
import { detectPartitions, type GuestReader, type PartitionReport } from '../../src/core/partitions/index.ts';
import { MAX_LOGICAL } from '../../src/core/partitions/mbr.ts';
import { MAX_PROBE_READ } from '../../src/core/partitions/source.ts';
import { pattern } from '../interop/fixtures.ts';
import { blkid, partitionFixtures, type PartitionFixtures } from '../interop/partitions-fixtures.ts';
import { open, patch } from '../support/qemu.ts';

let fx: PartitionFixtures;
let scratch: string;
beforeAll(() => {
  fx = partitionFixtures();
  scratch = mkdtempSync(join(tmpdir(), 'diskimg-parts-bad-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A guest disk in memory that remembers how much was read, and the largest single read. */
function memory(bytes: Uint8Array): GuestReader & { largest: number; total: number } {
  const disk = {
    virtualSize: bytes.length,
    largest: 0,
    total: 0,
    async read(offset: number, length: number) {
      disk.largest = Math.max(disk.largest, length);
      disk.total += length;
      const out = new Uint8Array(length);
      out.set(bytes.subarray(offset, Math.min(offset + length, bytes.length)));
      return out;
    },
  };
  return disk;
}

const SECTOR = 512;
const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const load = (file: string) => new Uint8Array(readFileSync(file));
/** The first sector of a file. */
function bootSector(file: string): Uint8Array {
  const fd = openSync(file, 'r');
  const out = Buffer.alloc(512);
  readSync(fd, out, 0, 512, 0);
  closeSync(fd);
  return new Uint8Array(out);
}
const setLe32 = (b: Uint8Array, at: number, v: number) => dv(b).setUint32(at, v, true);
const setLe64 = (b: Uint8Array, at: number, v: number) => dv(b).setBigUint64(at, BigInt(v), true);
const le32 = (b: Uint8Array, at: number) => dv(b).getUint32(at, true);
const le64 = (b: Uint8Array, at: number) => Number(dv(b).getBigUint64(at, true));

/** Recomputes the entry-array and header CRCs of the GPT header at `lba`, as a tool writing it would. */
function resealGpt(disk: Uint8Array, lba: number, entries = true): void {
  const h = lba * SECTOR;
  if (entries) {
    const at = le64(disk, h + 72) * SECTOR;
    setLe32(disk, h + 88, crc32(disk.subarray(at, at + le32(disk, h + 80) * le32(disk, h + 84))));
  }
  const size = le32(disk, h + 12);
  setLe32(disk, h + 16, 0);
  setLe32(disk, h + 16, crc32(disk.subarray(h, h + size)));
}

async function detectBytes(bytes: Uint8Array): Promise<PartitionReport & { reads: { largest: number; total: number } }> {
  const disk = memory(bytes);
  const report = await detectPartitions(disk);
  return { ...report, reads: { largest: disk.largest, total: disk.total } };
}

describe('GPT', () => {
  let clean: Uint8Array;
  let lastLba: number;
  beforeAll(() => {
    clean = load(fx.smallGpt);
    lastLba = clean.length / SECTOR - 1;
  });
  const copy = () => clean.slice();
  const partitionsOf = (r: PartitionReport) => r.partitions.map((p) => ({ index: p.index, start: p.start, size: p.size, name: p.name }));

  it('reads the clean table (sgdisk) without warnings', async () => {
    const r = await detectBytes(copy());
    expect(r.scheme).toBe('gpt');
    expect(partitionsOf(r)).toEqual([
      { index: 1, start: 1048576, size: 2 * 1048576, name: 'first' },
      { index: 2, start: 3 * 1048576, size: 8 * 1048576 - 3 * 1048576 - 34 * SECTOR + SECTOR, name: 'second' },
    ]);
    expect(r.warnings).toBeUndefined();
  });

  it('falls back to the backup header when the primary header CRC is wrong, and says so', async () => {
    const disk = copy();
    disk[SECTOR + 60] ^= 0xff; // a byte of the disk GUID
    const r = await detectBytes(disk);
    expect(r.scheme).toBe('gpt');
    expect(partitionsOf(r)).toEqual(partitionsOf(await detectBytes(copy())));
    expect(r.warnings).toEqual([
      expect.stringMatching(/^primary GPT header: header CRC32 mismatch at LBA 1/),
      `using the backup GPT header at LBA ${lastLba}`,
    ]);
  });

  it('falls back to the backup when the primary entry array CRC is wrong (sgdisk agrees the primary is damaged)', async () => {
    const disk = copy();
    disk[2 * SECTOR + 56] ^= 0x20; // partition 1's name
    const r = await detectBytes(disk);
    expect(partitionsOf(r)).toEqual(partitionsOf(await detectBytes(copy())));
    expect(r.warnings?.[0]).toMatch(/^primary GPT: entry array CRC32 mismatch at LBA 2/);
    expect(r.warnings?.[1]).toBe(`using the backup GPT header at LBA ${lastLba}`);
  });

  it('with both headers damaged, reports the protective MBR and why no GPT was read', async () => {
    const disk = copy();
    disk[SECTOR + 60] ^= 0xff;
    disk[lastLba * SECTOR + 60] ^= 0xff;
    const r = await detectBytes(disk);
    expect(r.scheme).toBe('mbr');
    expect(r.partitions).toMatchObject([{ index: 1, type: { code: 'ee', name: 'GPT' }, filesystem: null }]);
    expect(r.warnings).toContain('no valid GPT behind the protective MBR');
    expect(r.warnings?.some((w) => w.startsWith('backup GPT header: header CRC32 mismatch'))).toBe(true);
  });

  it('refuses an absurd entry count (even with valid CRCs) without reading it', async () => {
    const disk = copy();
    setLe32(disk, SECTOR + 80, 0xffffffff);
    resealGpt(disk, 1, false);
    const r = await detectBytes(disk);
    expect(r.scheme).toBe('gpt');
    expect(r.warnings?.[0]).toMatch(/^primary GPT header: 4294967295 entries of 128 bytes at LBA 1 exceed the limit/);
    expect(r.reads.largest).toBeLessThanOrEqual(MAX_PROBE_READ);
    expect(r.reads.total).toBeLessThan(4 * 1024 * 1024);
  });

  it('refuses an entry array larger than 1 MiB and entry sizes that are not multiples of 128', async () => {
    for (const [count, size, message] of [
      [1024, 4096, /1024 entries of 4096 bytes .* exceed the limit/],
      [128, 100, /entry size 100 at LBA 1 is not a multiple of 128/],
      [128, 0, /entry size 0/],
    ] as const) {
      const disk = copy();
      setLe32(disk, SECTOR + 80, count);
      setLe32(disk, SECTOR + 84, size);
      resealGpt(disk, 1, false);
      const r = await detectBytes(disk);
      expect(r.warnings?.[0]).toMatch(message);
      expect(r.scheme).toBe('gpt'); // from the backup
    }
  });

  it('refuses a header that names another LBA, or an absurd header size', async () => {
    const disk = copy();
    setLe64(disk, SECTOR + 24, 7);
    resealGpt(disk, 1, false);
    expect((await detectBytes(disk)).warnings?.[0]).toMatch(/header at LBA 1 says it lives at LBA 7/);
    const big = copy();
    setLe32(big, SECTOR + 12, 0xffff);
    expect((await detectBytes(big)).warnings?.[0]).toMatch(/header size 65535 at LBA 1 is not between 92 and 512/);
  });

  it('refuses an entry array that runs past the end of the disk', async () => {
    const disk = copy();
    setLe64(disk, SECTOR + 72, lastLba - 2);
    resealGpt(disk, 1, false);
    expect((await detectBytes(disk)).warnings?.[0]).toMatch(/the entry array at LBA \d+ runs past the end of the disk/);
  });

  it('reports partitions past the end of the disk and entries ending before they start', async () => {
    const disk = copy();
    const e1 = 2 * SECTOR;
    const e2 = 2 * SECTOR + 128;
    setLe64(disk, e1 + 40, 1_000_000); // partition 1 ends far past the 8 MiB disk
    setLe64(disk, e2 + 40, le64(disk, e2 + 32) - 1); // partition 2 ends before it starts
    resealGpt(disk, 1);
    const r = await detectBytes(disk);
    expect(r.partitions.map((p) => p.index)).toEqual([1]);
    expect(r.partitions[0].size).toBe((1_000_000 - 2048 + 1) * SECTOR);
    expect(r.warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^partition 2: last LBA \d+ is before first LBA/),
        expect.stringMatching(/^partition 1 lies outside the usable LBAs/),
        expect.stringMatching(/^partition 1 ends past the end of the disk/),
      ]),
    );
  });

  it('reads a GPT without a protective MBR, and says so', async () => {
    const disk = copy();
    disk.fill(0, 0, SECTOR);
    const r = await detectBytes(disk);
    expect(r.scheme).toBe('gpt');
    expect(r.warnings).toEqual(['no protective MBR in sector 0']);
  });

  it('survives random damage to every header and entry sector (no throw, bounded reads)', async () => {
    let state = 12345;
    const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 8;
    const hot = [
      ...Array.from({ length: 34 * SECTOR }, (_, i) => i),
      ...Array.from({ length: 33 * SECTOR }, (_, i) => clean.length - 33 * SECTOR + i),
    ];
    for (let round = 0; round < 200; round++) {
      const disk = copy();
      for (let n = 1 + (next() % 8); n > 0; n--) disk[hot[next() % hot.length]] = next() & 0xff;
      if (round % 3 === 0) resealGpt(disk, 1, round % 2 === 0);
      const r = await detectBytes(disk);
      expect(['gpt', 'mbr', 'none']).toContain(r.scheme);
      expect(r.reads.largest).toBeLessThanOrEqual(MAX_PROBE_READ);
    }
  });
});

describe('MBR and EBR chains', () => {
  let clean: Uint8Array;
  let ebr1: number;
  beforeAll(() => {
    clean = load(fx.smallMbr);
    ebr1 = le32(clean, 446 + 16 + 8); // partition 2 is the extended one
  });
  const copy = () => clean.slice();

  it('reads the clean table (sfdisk): primaries, then logical partitions from 5', async () => {
    const r = await detectBytes(copy());
    expect(r.partitions.map((p) => [p.index, p.type.code])).toEqual([
      [1, '83'],
      [2, '5'],
      [5, '82'],
      [6, '7'],
    ]);
    expect(r.warnings).toBeUndefined();
  });

  it('stops at an EBR that links to itself', async () => {
    const disk = copy();
    setLe32(disk, ebr1 * SECTOR + 446 + 16 + 8, 0); // the link is relative to the extended partition: 0 is itself
    const r = await detectBytes(disk);
    expect(r.partitions.map((p) => p.index)).toEqual([1, 2, 5]);
    expect(r.warnings).toEqual([`EBR chain loops back to sector ${ebr1}; logical partitions after 5 are ignored`]);
  });

  it('stops at a longer loop (second EBR back to the first)', async () => {
    const disk = copy();
    const ebr2 = ebr1 + le32(disk, ebr1 * SECTOR + 446 + 16 + 8);
    disk[ebr2 * SECTOR + 446 + 16 + 4] = 0x05;
    setLe32(disk, ebr2 * SECTOR + 446 + 16 + 8, 0);
    setLe32(disk, ebr2 * SECTOR + 446 + 16 + 12, 1);
    const r = await detectBytes(disk);
    expect(r.partitions.map((p) => p.index)).toEqual([1, 2, 5, 6]);
    expect(r.warnings?.[0]).toMatch(/^EBR chain loops back to sector/);
  });

  it(`caps a chain of distinct EBRs at ${MAX_LOGICAL} links`, async () => {
    const disk = new Uint8Array(2 * 1024 * 1024);
    disk[510] = 0x55;
    disk[511] = 0xaa;
    disk[446 + 4] = 0x05;
    setLe32(disk, 446 + 8, 1);
    setLe32(disk, 446 + 12, disk.length / SECTOR - 1);
    for (let i = 0; i < 1000; i++) {
      const at = (1 + 2 * i) * SECTOR;
      if (at + SECTOR > disk.length) break;
      disk[at + 510] = 0x55;
      disk[at + 511] = 0xaa;
      disk[at + 446 + 4] = 0x83; // logical: the sector after its EBR
      setLe32(disk, at + 446 + 8, 1);
      setLe32(disk, at + 446 + 12, 1);
      disk[at + 446 + 16 + 4] = 0x05; // link: the next EBR
      setLe32(disk, at + 446 + 16 + 8, 2 * (i + 1));
      setLe32(disk, at + 446 + 16 + 12, 2);
    }
    const r = await detectBytes(disk);
    expect(r.partitions.filter((p) => p.index >= 5)).toHaveLength(MAX_LOGICAL);
    expect(r.warnings).toEqual([`EBR chain longer than ${MAX_LOGICAL} links; the rest is ignored`]);
  });

  it('stops at an EBR outside the extended partition or without a signature', async () => {
    const outside = copy();
    setLe32(outside, ebr1 * SECTOR + 446 + 16 + 8, 0x7fffffff);
    expect((await detectBytes(outside)).warnings?.[0]).toMatch(/^EBR at sector \d+ lies outside the extended partition/);
    const unsigned = copy();
    const ebr2 = ebr1 + le32(unsigned, ebr1 * SECTOR + 446 + 16 + 8);
    unsigned[ebr2 * SECTOR + 511] = 0;
    const r = await detectBytes(unsigned);
    expect(r.partitions.map((p) => p.index)).toEqual([1, 2, 5]);
    expect(r.warnings).toEqual([`EBR at sector ${ebr2} has no 0x55AA signature; the chain stops there`]);
  });

  it('reports a partition that ends past the end of the disk', async () => {
    const disk = copy();
    setLe32(disk, 446 + 12, 0xffffffff);
    const r = await detectBytes(disk);
    expect(r.partitions[0].size).toBe(0xffffffff * SECTOR);
    expect(r.warnings).toEqual([
      `partition 1 ends past the end of the disk (${2048 * SECTOR + 0xffffffff * SECTOR} > ${disk.length} bytes)`,
    ]);
  });

  it('takes a sector with an invalid boot indicator for boot code, not a table', async () => {
    const disk = copy();
    disk[446] = 0x12;
    expect(await detectBytes(disk)).toMatchObject({ scheme: 'none', partitions: [] });
  });
});

describe('data that is not a partition table', () => {
  it('finds nothing in random or text data, even with 0x55AA at the end of sector 0', async () => {
    for (const kind of ['random', 'text'] as const) {
      const disk = new Uint8Array(pattern(kind, 8 * 1024 * 1024, 99));
      expect(await detectBytes(disk)).toMatchObject({ scheme: 'none', partitions: [] });
      disk[510] = 0x55;
      disk[511] = 0xaa;
      expect(await detectBytes(disk)).toMatchObject({ scheme: 'none', partitions: [] });
    }
  });

  it('finds nothing on a blank disk, and reads only a few sectors', async () => {
    const r = await detectBytes(new Uint8Array(64 * 1024 * 1024));
    expect(r).toMatchObject({ scheme: 'none', partitions: [] });
    expect(r.reads.total).toBeLessThan(512 * 1024);
  });
});

describe('damaged superblocks', () => {
  async function probeFile(file: string) {
    const image = await open(file, { format: 'raw' });
    try {
      return (await detectPartitions(image)).partitions[0]?.filesystem ?? null;
    } finally {
      await image.close();
    }
  }

  it('FAT32: a root directory whose cluster chain loops, with no label entry, ends without a label (as blkid)', async () => {
    const file = join(scratch, 'fat32-loop.img');
    copyFileSync(fx.filesystems.fat32.file, file);
    const bs = bootSector(file);
    const reserved = bs[14] | (bs[15] << 8);
    const fats = bs[16];
    const fatLength = le32(bs, 36);
    const root = le32(bs, 44);
    patch(file, reserved * 512 + root * 4, [root, 0, 0, 0]); // the root cluster's FAT entry points to itself
    const entry = [...Buffer.from('FILE    TXT'), 0x20, ...new Array(20).fill(0)];
    entry[26] = 3; // a first cluster: not a label candidate
    const dirAt = (reserved + fats * fatLength + (root - 2)) * 512;
    patch(file, dirAt, Array.from({ length: 16 }, () => entry).flat());
    const ours = await probeFile(file);
    expect(ours).toMatchObject({ type: 'vfat', version: 'FAT32' });
    expect(ours?.label).toBeUndefined();
    const theirs = blkid(file);
    expect(theirs).toMatchObject({ TYPE: 'vfat', LABEL_FATBOOT: 'ESP' }); // the boot sector's copy, not LABEL
    expect(theirs.LABEL).toBeUndefined();
  });

  // blkid gives up on NTFS altogether when $Volume cannot be read; we keep what the boot sector says.
  it('NTFS: an MFT beyond the volume, or beyond 2^53 bytes, gives no label but still NTFS with its serial', async () => {
    const file = join(scratch, 'ntfs-mft.img');
    copyFileSync(fx.filesystems.ntfs.file, file);
    patch(file, 48, [0xff, 0xff, 0xff, 0, 0, 0, 0, 0]);
    expect(await probeFile(file)).toMatchObject({ type: 'ntfs', uuid: blkid(fx.filesystems.ntfs.file).UUID });
    patch(file, 48, [0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0]);
    const ours = await probeFile(file);
    expect(ours).toMatchObject({ type: 'ntfs', uuid: blkid(fx.filesystems.ntfs.file).UUID });
    expect(ours?.label).toBeUndefined();
  });

  it('exFAT: a root directory chain that loops ends', async () => {
    const file = join(scratch, 'exfat-loop.img');
    copyFileSync(fx.filesystems.exfat.file, file);
    const bs = bootSector(file);
    const sector = 2 ** bs[108];
    const cluster = sector * 2 ** bs[109];
    const root = le32(bs, 96);
    patch(file, le32(bs, 80) * sector + root * 4, [root, 0, 0, 0]);
    patch(file, le32(bs, 88) * sector + (root - 2) * cluster, new Array(Math.min(cluster, 65536)).fill(0x85));
    const ours = await probeFile(file);
    expect(ours).toMatchObject({ type: 'exfat' });
    expect(ours?.label).toBeUndefined();
  });

  it('ext4: an impossible block size is not ext4', async () => {
    const file = join(scratch, 'ext4-block.img');
    copyFileSync(fx.filesystems.ext4.file, file);
    patch(file, 1024 + 24, [30, 0, 0, 0]);
    expect(await probeFile(file)).toBeNull();
  });
});
