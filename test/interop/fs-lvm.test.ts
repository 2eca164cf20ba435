/**
 * LVM2 logical volumes on the way to a file system, on PVs made by pvcreate/vgcreate/lvcreate:
 * a linear LV in two segments with another LV between them (read back byte-identical, raw and as
 * qcow2), the LV chosen by --volume as virt-ls -m names it, refusals for striped LVs and LVs on
 * another PV, raid1 and thin LVs (metadata vgcfgrestore wrote), and the metadata areas as pvck --dump headers locates them: the newest copy wins,
 * a copy failing its checksum is passed over, and when every copy fails the error says why.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readVolumeGroup } from '../../src/core/filesystems/lvm-volumes.ts';
import { ByteSource } from '../../src/core/partitions/source.ts';
import { open } from '../support/qemu.ts';
import { describeTree, MiB } from './fs-fixtures.ts';
import { lvmFixtures, type LvmFixtures } from './fs-lvm-fixtures.ts';
import { raidThinFixtures } from './fs-lvm-raid-thin-fixtures.ts';
import { diskimgBytes, readBytes, readTree, sorted, treeFailure, writeBytes } from './fs-support.ts';

let fx: LvmFixtures;
let scratch: string;
beforeAll(() => {
  fx = lvmFixtures();
  scratch = mkdtempSync(join(tmpdir(), 'diskimg-fs-lvm-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Area {
  header: number;
  text: number;
  seqno: number;
  vg: string;
}

/** Where pvck (LVM's own checker) finds each metadata area's header and committed text, from the PV's start. */
function pvckAreas(disk: string, partitionStart: number): Area[] {
  const pv = join(scratch, `pvck-${Math.random().toString(36).slice(2)}.img`);
  execFileSync('dd', [`if=${disk}`, `of=${pv}`, 'bs=1M', `skip=${partitionStart / MiB}`, 'count=62', 'status=none']);
  const out = execFileSync('pvck', ['--dump', 'headers', pv], {
    encoding: 'utf8',
    env: { ...process.env, LVM_SUPPRESS_FD_WARNINGS: '1' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  rmSync(pv);
  const headers = [...out.matchAll(/^\s*mda_header_\d+ at (\d+)/gm)].map((m) => Number(m[1]));
  const texts = [...out.matchAll(/^\s*metadata text at (\d+) crc \S+ # vgname (\S+) seqno (\d+)/gm)];
  expect(texts.length).toBe(headers.length);
  return headers.map((header, i) => ({ header, text: Number(texts[i][1]), vg: texts[i][2], seqno: Number(texts[i][3]) }));
}

async function volumeGroupOf(file: string, partitionStart: number) {
  const image = await open(file, { format: 'raw' });
  try {
    return await readVolumeGroup(ByteSource.whole(image).slice(partitionStart, 62 * MiB));
  } finally {
    await image.close();
  }
}

describe('a linear LV on a PV in a GPT partition', () => {
  it('reads every name, size, link and byte of the tree mke2fs put in it, raw and as qcow2, though its two segments have another LV between them', async () => {
    const want = sorted(describeTree(fx.extTree));
    expect(await readTree(fx.gpt.image, 2, `${fx.gpt.vg}/lv1`)).toEqual(want);
    expect(await readTree(fx.gpt.qcow2, undefined, `/dev/${fx.gpt.vg}/lv1`)).toEqual(want);
    const vg = await volumeGroupOf(fx.gpt.image, fx.gpt.partitionStart);
    const lv1 = vg.volumes.find((v) => v.name === `${fx.gpt.vg}/lv1`)!;
    const lv2 = vg.volumes.find((v) => v.name === `${fx.gpt.vg}/lv2`)!;
    expect(lv1.segments!.map((s) => s.length)).toEqual([12 * MiB, 14 * MiB]);
    expect(lv1.segments![1].pvOffset).toBeGreaterThan(lv2.segments![0].pvOffset);
  });

  it('has the name and seqno pvck reads from the same metadata', async () => {
    const areas = pvckAreas(fx.gpt.image, fx.gpt.partitionStart);
    expect(areas.length).toBe(2);
    const vg = await volumeGroupOf(fx.gpt.image, fx.gpt.partitionStart);
    expect({ name: vg.name, seqno: vg.seqno }).toEqual({ name: areas[0].vg, seqno: areas[0].seqno });
  });

  it('fs cat gives the bytes mcopy put in the vfat LV, chosen as /dev/mapper names it', async () => {
    const mapper = `/dev/mapper/${fx.gpt.vg}-lv2`;
    const result = await diskimgBytes('fs', 'cat', '--volume', mapper, fx.gpt.qcow2, '/hello.txt');
    expect(result.stderr).toBe('');
    expect(result.stdout).toEqual(readBytes(fx.hello, 0, 13));
  });

  it('without --volume, fs ls lists the partitions and the volumes to choose from', async () => {
    const result = await diskimgBytes('fs', 'ls', fx.gpt.qcow2);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `diskimg: ${fx.gpt.qcow2}: The disk has 2 file systems: choose a partition (--partition N) or a logical volume (--volume VG/LV): ` +
        `1 (no file system, 8388608 bytes); 2 (LVM2 physical volume: ${fx.gpt.vg}/lv1 (ext4, 27262976 bytes), ${fx.gpt.vg}/lv2 (vfat "LVMFAT", 4194304 bytes))\n`,
    );
  });

  it('a volume that is not there, or a partition that is no PV, is refused naming what there is', async () => {
    const missing = await diskimgBytes('fs', 'ls', '--partition', '2', '--volume', `${fx.gpt.vg}/nope`, fx.gpt.qcow2);
    expect(missing.stderr).toBe(
      `diskimg: ${fx.gpt.qcow2}: There is no logical volume ${fx.gpt.vg}/nope in volume group ${fx.gpt.vg}; volumes: ${fx.gpt.vg}/lv1, ${fx.gpt.vg}/lv2\n`,
    );
    const notPv = await diskimgBytes('fs', 'ls', '--partition', '1', '--volume', 'lv1', fx.gpt.qcow2);
    expect(notPv.stderr).toBe(
      `diskimg: ${fx.gpt.qcow2}: Partition 1 holds no file system, not an LVM2 physical volume: it has no logical volume lv1\n`,
    );
    const badSpelling = await diskimgBytes('fs', 'ls', '--volume', 'a/b/c', fx.gpt.qcow2);
    expect(badSpelling.code).not.toBe(0);
    expect(badSpelling.stderr).toContain(
      "--volume must name an LVM logical volume as VG/LV (or /dev/VG/LV, as virt-ls -m takes it), not 'a/b/c'",
    );
  });

  it('info lists the logical volumes with their layout, size and file system', async () => {
    const result = await diskimgBytes('info', fx.gpt.qcow2);
    expect(result.stdout.toString()).toContain(
      `        logical volumes:\n            ${fx.gpt.vg}/lv1: linear, 27262976 (26 MiB), ext4\n            ${fx.gpt.vg}/lv2: linear, 4194304 (4 MiB), vfat "LVMFAT"\n`,
    );
  });
});

describe('the metadata areas', () => {
  const tree = () => sorted(describeTree(fx.extTree));

  it('an older copy (before lvextend) in either area loses to the newer one in the other', async () => {
    const areas = pvckAreas(fx.gpt.image, fx.gpt.partitionStart);
    for (const stale of areas) {
      const image = join(scratch, `stale-${stale.header}.img`);
      copyFileSync(fx.gpt.image, image);
      // The whole area as it was before lvextend: its header and its older text.
      const at = fx.gpt.partitionStart + stale.header;
      writeBytes(image, at, readBytes(fx.gptBeforeExtend, at, 1044480));
      const before = await volumeGroupOf(fx.gptBeforeExtend, fx.gpt.partitionStart);
      const after = await volumeGroupOf(image, fx.gpt.partitionStart);
      expect(after.seqno).toBeGreaterThan(before.seqno);
      expect(await readTree(image, 2, `${fx.gpt.vg}/lv1`)).toEqual(tree());
    }
  });

  it('a copy whose text fails its checksum is passed over; when both do, the error names each', async () => {
    const areas = pvckAreas(fx.gpt.image, fx.gpt.partitionStart);
    const image = join(scratch, 'bad-text.img');
    copyFileSync(fx.gpt.image, image);
    writeBytes(image, fx.gpt.partitionStart + areas[0].text + 10, Buffer.from('#'));
    expect(await readTree(image, 2, `${fx.gpt.vg}/lv1`)).toEqual(tree());
    writeBytes(image, fx.gpt.partitionStart + areas[1].text + 10, Buffer.from('#'));
    const error = await treeFailure(image, 2, `${fx.gpt.vg}/lv1`);
    expect(error.kind).toBe('corrupt');
    expect(error.message).toBe(
      `No LVM metadata area could be read: its text at byte ${areas[0].text} fails its checksum; its text at byte ${areas[1].text} fails its checksum`,
    );
  });

  it('a damaged area header is named too', async () => {
    const areas = pvckAreas(fx.gpt.image, fx.gpt.partitionStart);
    const image = join(scratch, 'bad-header.img');
    copyFileSync(fx.gpt.image, image);
    for (const area of areas) writeBytes(image, fx.gpt.partitionStart + area.header + 30, Buffer.from([0xff]));
    const error = await treeFailure(image, 2, `${fx.gpt.vg}/lv1`);
    expect(error.message).toBe(
      `No LVM metadata area could be read: the header at byte ${areas[0].header} fails its checksum; the header at byte ${areas[1].header} fails its checksum`,
    );
    const info = await diskimgBytes('info', '-f', 'raw', image);
    expect(info.stdout.toString()).toContain(
      `    warning: partition 2: No LVM metadata area could be read: the header at byte ${areas[0].header} fails its checksum`,
    );
  });
});

describe('a PV of a two-PV volume group', () => {
  it('the linear LV that lies wholly on it is the only file system, found without --volume', async () => {
    const result = await diskimgBytes('fs', 'cat', '-f', 'raw', fx.twoPvs.image, '/HELLO.TXT');
    expect(result.stderr).toBe('');
    expect(result.stdout).toEqual(readBytes(fx.hello, 0, 13));
  });

  it('a striped LV and an LV reaching onto the other PV are refused, naming the LV and its type', async () => {
    const striped = await diskimgBytes('fs', 'ls', '-f', 'raw', '--volume', `${fx.twoPvs.vg}/striped`, fx.twoPvs.image);
    expect(striped.stderr).toBe(
      `diskimg: ${fx.twoPvs.image}: ${fx.twoPvs.vg}/striped is a striped logical volume: its data alternates between 2 stripes; only linear volumes can be read\n`,
    );
    const spans = await diskimgBytes('fs', 'ls', '-f', 'raw', '--volume', 'spans', fx.twoPvs.image);
    expect(spans.stderr).toMatch(
      new RegExp(
        `^diskimg: .*: ${fx.twoPvs.vg}/spans is a linear logical volume: part of it \\(segment\\d\\) lies on another physical volume \\(pv1\\); only what one PV holds can be read\\n$`,
      ),
    );
  });
});

describe('raid1 and thin volumes (LVM metadata vgcfgrestore wrote)', () => {
  const rt = raidThinFixtures();

  it('are what lvs says they are', () => {
    const types = Object.fromEntries(
      rt.lvs
        .trim()
        .split('\n')
        .map((line) => line.trim().split(/\s+/)),
    );
    expect(types).toMatchObject({ mirror: 'raid1', pool: 'thin-pool', thin: 'thin', '[mirror_rimage_0]': 'linear' });
  });

  it('are each refused with one line naming the volume and its type', async () => {
    for (const [lv, type] of [
      ['mirror', 'raid1'],
      ['pool', 'thin-pool'],
      ['thin', 'thin'],
    ]) {
      const run = await diskimgBytes('fs', 'ls', '-f', 'raw', '--volume', `${rt.vg}/${lv}`, rt.image);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toBe(`diskimg: ${rt.image}: ${rt.vg}/${lv} is a ${type} logical volume: only linear volumes can be read\n`);
    }
  });

  it('without --volume, the error lists them with their types (the hidden sub-volumes left out)', async () => {
    const run = await diskimgBytes('fs', 'ls', '-f', 'raw', rt.image);
    expect(run.stderr).toBe(
      `diskimg: ${rt.image}: The disk is an LVM2 physical volume: choose a logical volume (--volume VG/LV): ${rt.vg}/mirror (raid1, ${4 * MiB} bytes); ${rt.vg}/pool (thin-pool, ${4 * MiB} bytes); ${rt.vg}/thin (thin, ${8 * MiB} bytes)\n`,
    );
  });
});
