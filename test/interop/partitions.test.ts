/**
 * Partition tables and file systems made by the real tools (sfdisk, sgdisk, fdisk, mkfs.*,
 * cryptsetup, pvcreate) must read as those tools and blkid describe them — in raw files, through
 * the qcow2 layer, and through a backing chain — and `info` must keep qemu-img's output intact.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync, truncateSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectPartitions, type FilesystemInfo, type PartitionReport } from '../../src/core/partitions/index.ts';
import { open } from '../support/qemu.ts';
import { blkid, fdisk4k, partitionFixtures, partitionIndex, sfdiskJson, type PartitionFixtures } from './partitions-fixtures.ts';
import { diskimg, qemuImg } from './support.ts';

let fx: PartitionFixtures;
let scratch: string;
beforeAll(() => {
  fx = partitionFixtures();
  scratch = mkdtempSync(join(tmpdir(), 'diskimg-parts-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function detect(file: string): Promise<PartitionReport> {
  const image = await open(file, { format: file.endsWith('.qcow2') ? undefined : 'raw' });
  try {
    return await detectPartitions(image);
  } finally {
    await image.close();
  }
}

/** Our file-system fields against blkid's TYPE, LABEL, UUID and VERSION. */
function expectBlkid(ours: FilesystemInfo | null, theirs: Record<string, string>): void {
  if (!theirs.TYPE) {
    expect(ours).toBeNull();
    return;
  }
  expect(ours).not.toBeNull();
  expect({ type: ours!.type, label: ours!.label, uuid: ours!.uuid, version: ours!.version }).toEqual({
    type: theirs.TYPE,
    label: theirs.LABEL,
    uuid: theirs.UUID,
    version: theirs.VERSION,
  });
}

describe('each file system on a whole disk (no partition table) reads as blkid says', () => {
  const kinds = [
    'ext2',
    'ext3',
    'ext4',
    'xfs',
    'btrfs',
    'ntfs',
    'fat12',
    'fat16',
    'fat32',
    'exfat',
    'swap',
    'luks1',
    'luks2',
    'lvm',
    'iso9660',
  ];
  for (const kind of kinds) {
    it(kind, async () => {
      const { file } = fx.filesystems[kind];
      const report = await detect(file);
      expect(report.scheme).toBe('none');
      expect(report.partitions).toHaveLength(1);
      expect(report.partitions[0]).toMatchObject({ index: 1, start: 0, type: { name: 'whole disk' } });
      expectBlkid(report.partitions[0].filesystem, blkid(file));
    });
  }

  it('gives the file system size from the superblock', async () => {
    const MiB = 1024 * 1024;
    const sizes: Record<string, number> = {
      ext4: 32 * MiB,
      xfs: 300 * MiB,
      btrfs: 128 * MiB,
      fat32: 40 * MiB,
      exfat: 16 * MiB,
      swap: 8 * MiB,
      lvm: 8 * MiB,
      ntfs: 16 * MiB - 512,
    };
    for (const [kind, size] of Object.entries(sizes)) {
      expect((await detect(fx.filesystems[kind].file)).partitions[0].filesystem?.size, kind).toBe(size);
    }
  });
});

describe('MBR with primary, extended and logical partitions (sfdisk)', () => {
  it('lists what sfdisk --json lists', async () => {
    const report = await detect(fx.mbr.file);
    const table = sfdiskJson(fx.mbr.file).partitiontable;
    expect(report.scheme).toBe('mbr');
    expect(report['disk-id']).toBe(table.id);
    expect(blkid(fx.mbr.file)).toMatchObject({ PTTYPE: 'dos', PTUUID: (table.id as string).slice(2) });
    const theirs = table.partitions.map((p) => ({
      index: partitionIndex(p.node),
      start: p.start * 512,
      size: p.size * 512,
      code: p.type,
      bootable: (p as { bootable?: boolean }).bootable === true,
    }));
    const ours = report.partitions.map((p) => ({
      index: p.index,
      start: p.start,
      size: p.size,
      code: p.type.code,
      bootable: p.bootable === true,
    }));
    expect(ours).toEqual(theirs);
    expect(report.partitions.find((p) => p.index === 3)).toMatchObject({ extended: true, type: { name: 'Extended' }, filesystem: null });
    expect(report.partitions.find((p) => p.index === 1)?.type.name).toBe('FAT16');
    expect(report.warnings).toBeUndefined();
  });

  it('finds in each partition what blkid finds there', async () => {
    const report = await detect(fx.mbr.file);
    for (const p of report.partitions.filter((p) => !p.extended)) {
      const theirs = blkid(fx.mbr.file, p.start, p.size);
      expectBlkid(p.filesystem, theirs);
      if (fx.mbr.contents[p.index] === undefined) expect(p.filesystem).toBeNull();
    }
    expect(report.partitions.filter((p) => p.filesystem).length).toBe(Object.keys(fx.mbr.contents).length);
  });
});

describe('GPT with names, type codes and attributes (sgdisk)', () => {
  it('lists what sfdisk --json and sgdisk -p list', async () => {
    const report = await detect(fx.gpt.file);
    const table = sfdiskJson(fx.gpt.file).partitiontable;
    expect(report).toMatchObject({ scheme: 'gpt', 'sector-size': 512, 'disk-guid': table.id });
    expect(blkid(fx.gpt.file)).toMatchObject({ PTTYPE: 'gpt', PTUUID: (table.id as string).toLowerCase() });
    const theirs = table.partitions.map((p) => {
      const q = p as typeof p & { uuid: string; name?: string };
      return { index: partitionIndex(p.node), start: p.start * 512, size: p.size * 512, guid: p.type, uuid: q.uuid, name: q.name };
    });
    expect(
      report.partitions.map((p) => ({ index: p.index, start: p.start, size: p.size, guid: p.type.guid, uuid: p.uuid, name: p.name })),
    ).toEqual(theirs);
    // sgdisk -p: "Number Start End Size Code Name"; the codes map to the GUIDs above, the names are the same.
    const rows = execFileSync('sgdisk', ['-p', fx.gpt.file], { encoding: 'utf8' })
      .split('\n')
      .map((line) => /^\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+ \S+\s+([0-9A-F]{4})\s+(.*)$/.exec(line))
      .filter((m) => m !== null);
    expect(rows.map((m) => ({ index: Number(m![1]), start: Number(m![2]) * 512, name: m![5] }))).toEqual(
      report.partitions.map((p) => ({ index: p.index, start: p.start, name: p.name })),
    );
    expect(report.partitions.map((p) => p.type.name)).toEqual([
      'EFI System',
      'Linux root (x86-64)',
      'Linux LVM',
      'Linux LUKS',
      'Linux LUKS',
      'Linux swap',
      'Microsoft basic data',
    ]);
    // sfdisk prints the bits as "RequiredPartition GUID:60,63".
    expect((table.partitions[6] as { attrs?: string }).attrs).toBe('RequiredPartition GUID:60,63');
    expect(report.partitions[6].attributes).toBe('0x9000000000000001');
    expect(report.warnings).toBeUndefined();
  });

  it('finds in each partition what blkid finds there', async () => {
    const report = await detect(fx.gpt.file);
    for (const p of report.partitions) expectBlkid(p.filesystem, blkid(fx.gpt.file, p.start, p.size));
    expect(report.partitions.filter((p) => p.filesystem).map((p) => p.filesystem!.type)).toEqual([
      'vfat',
      'btrfs',
      'LVM2_member',
      'crypto_LUKS',
      'crypto_LUKS',
      'swap',
    ]);
  });

  it('reads a GPT on 4096-byte sectors as fdisk -b 4096 does', async () => {
    const report = await detect(fx.gpt4k.file);
    const theirs = fdisk4k(fx.gpt4k.file);
    expect(report).toMatchObject({ scheme: 'gpt', 'sector-size': 4096, 'disk-guid': theirs.id });
    expect(report.partitions.map((p) => ({ index: p.index, start: p.start, size: p.size, guid: p.type.guid, uuid: p.uuid }))).toEqual(
      theirs.partitions.map((p) => ({
        index: partitionIndex(p.node),
        start: p.start * 4096,
        size: p.size * 4096,
        guid: p.type,
        uuid: p.uuid,
      })),
    );
    for (const p of report.partitions) expectBlkid(p.filesystem, blkid(fx.gpt4k.file, p.start, p.size));
  });
});

describe('through the qcow2 layer', () => {
  it('reads the same from qcow2 copies as from the raw disks', async () => {
    expect(await detect(fx.mbrQcow2)).toEqual(await detect(fx.mbr.file));
    expect(await detect(fx.gptQcow2)).toEqual(await detect(fx.gpt.file));
  });

  it('reads the guest disk of a backing chain: the overlay where it wrote, the base elsewhere', async () => {
    const ours = await detect(fx.overlay);
    const base = await detect(fx.gpt.file);
    for (const p of ours.partitions) {
      expectBlkid(p.filesystem, blkid(fx.overlayFlat, p.start, p.size));
      if (p.index !== fx.overlayPartition) expect(p).toEqual(base.partitions.find((b) => b.index === p.index));
    }
    expect(ours.partitions.find((p) => p.index === fx.overlayPartition)?.filesystem?.type).toBe('ext2');
  });
});

describe('diskimg info', () => {
  it('appends "partitions" after every qemu-img field in JSON, through the backing chain', async () => {
    for (const file of [fx.gptQcow2, fx.overlay, fx.mbr.file]) {
      const theirs = qemuImg('info', '--output=json', file).stdout;
      const run = await diskimg('info', '--output=json', file);
      expect(run).toMatchObject({ code: 0, stderr: '' });
      expect(run.stdout.startsWith(`${theirs.slice(0, -3)},\n    "partitions": {\n`)).toBe(true);
      const parsed = JSON.parse(run.stdout);
      expect(Object.keys(parsed).at(-1)).toBe('partitions');
      expect(parsed.partitions).toEqual(JSON.parse(JSON.stringify(await detect(file))));
      delete parsed.partitions;
      expect(parsed).toEqual(JSON.parse(theirs));
    }
  });

  it('puts "partitions" in the top image of --backing-chain JSON only', async () => {
    const theirs = JSON.parse(qemuImg('info', '--output=json', '--backing-chain', fx.overlay).stdout);
    const ours = JSON.parse((await diskimg('info', '--output=json', '--backing-chain', fx.overlay)).stdout);
    expect(ours[0].partitions.partitions[fx.overlayPartition - 1].filesystem.type).toBe('ext2');
    expect(ours[1].partitions).toBeUndefined();
    delete ours[0].partitions;
    expect(ours).toEqual(theirs);
  });

  it('prints a Partitions section after qemu-img human output', async () => {
    const theirs = qemuImg('info', fx.gptQcow2).stdout;
    const run = await diskimg('info', fx.gptQcow2);
    expect(run.stdout.startsWith(theirs)).toBe(true);
    const section = run.stdout.slice(theirs.length);
    expect(section).toContain(
      'Partitions:\n    scheme: gpt\n    disk guid: 8A3D1F1E-5B4C-4D3E-9F20-112233445566\n    sector size: 512\n    [1]:\n        start: 1048576 (1 MiB)\n        size: 41943040 (40 MiB)\n        type: EFI System (C12A7328-F81F-11D2-BA4B-00A0C93EC93B)\n        name: EFI system partition\n',
    );
    expect(section).toContain('        filesystem: vfat (FAT32)\n        label: ESP\n        filesystem uuid: 0001-BEEF\n');
    expect(section).toContain('    [7]:\n');
    expect(section).toContain('        attributes: 0x9000000000000001\n        filesystem: not recognised\n');
  });

  it('prints a whole-disk file system', async () => {
    const run = await diskimg('info', '-f', 'raw', fx.filesystems.xfs.file);
    expect(run.stdout).toContain(
      'Partitions:\n    scheme: none (no partition table)\n    [1]:\n        start: 0 (0 B)\n        size: 314572800 (300 MiB)\n        type: whole disk\n        filesystem: xfs\n        label: xfs-data\n',
    );
  });

  it("adds nothing for a blank disk: the output stays qemu-img's, byte for byte", async () => {
    const blank = join(scratch, 'blank.raw');
    writeFileSync(blank, '');
    truncateSync(blank, 64 * 1024 * 1024);
    for (const flags of [[], ['--output=json']]) {
      const theirs = qemuImg('info', ...flags, blank);
      const ours = await diskimg('info', ...flags, blank);
      expect(ours).toEqual({ code: theirs.code, stdout: theirs.stdout, stderr: theirs.stderr });
    }
  });
});
