/**
 * LVM2 volumes made by LVM's own tools on loop devices, without device-mapper: pvcreate,
 * vgcreate, lvcreate --driverloaded n (nothing is activated), lvextend for a second segment
 * elsewhere on the PV. lvs says where each LV's extents lie and file systems made by mke2fs -d and
 * mkfs.vfat + mcopy are written there with dd. Every VG gets a name unique to this build, and
 * is removed and its loop devices detached even when a step fails.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedFixtures } from '../support/fixture-cache.ts';
import { fsFixtures, MiB } from './fs-fixtures.ts';

export interface LvmFixtures {
  /** The tree lv1 (ext4) holds; lv2 (vfat) holds hello.txt only. */
  extTree: string;
  hello: string;
  /** GPT: 1 an empty Linux partition, 2 an LVM PV with two metadata copies holding vg/lv1 (two segments, out of order) and vg/lv2. */
  gpt: { image: string; qcow2: string; vg: string; partitionStart: number };
  /** The same disk as `gpt` before lvextend gave lv1 its second segment (its metadata: an older seqno). */
  gptBeforeExtend: string;
  /** Whole disk: the first of two PVs in one VG, with a striped LV, an LV spanning both PVs and a linear vfat LV. */
  twoPvs: { image: string; vg: string };
}

// LVM complains about every inherited descriptor; nothing here needs its backups in /etc/lvm.
const LVM_ENV = { ...process.env, LVM_SUPPRESS_FD_WARNINGS: '1' };
const NO_BACKUP = ['--config', 'backup { backup = 0 archive = 0 }'];
export const lvm = (cmd: string, ...args: string[]) =>
  execFileSync(cmd, [...args, ...NO_BACKUP], { env: LVM_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const run = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

export const uniqueVg = (tag: string) => `dimg${tag}${process.pid}x${Math.floor(Math.random() * 1e6)}`;

/** Runs `work` with loop devices on `files` (at an offset and size each), always detaching them and removing `vg`. */
export function withLoops<T>(
  vg: string,
  files: Array<{ file: string; offset?: number; size?: number }>,
  work: (devices: string[]) => T,
): T {
  const devices: string[] = [];
  try {
    for (const f of files) {
      const where = f.offset !== undefined ? ['-o', String(f.offset), '--sizelimit', String(f.size)] : [];
      devices.push(run('losetup', '-f', '--show', ...where, f.file).trim());
    }
    return work(devices);
  } finally {
    try {
      lvm('vgremove', '-f', vg);
    } catch {
      // Not created, or already gone.
    }
    for (const device of devices) run('losetup', '-d', device);
  }
}

/** Each LV's extents on `device` in LV order, from lvs. */
function extentRanges(vg: string, lv: string): Array<{ device: string; first: number; last: number }> {
  const out = lvm('lvs', '--driverloaded', 'n', '--noheadings', '-o', 'seg_pe_ranges', `${vg}/${lv}`);
  return out
    .split(/\s+/)
    .filter(Boolean)
    .map((range) => {
      const m = /^(.+):(\d+)-(\d+)$/.exec(range);
      if (!m) throw new Error(`lvs printed an unexpected range: ${range}`);
      return { device: m[1], first: Number(m[2]), last: Number(m[3]) };
    });
}

const peStart = (device: string) => Number(lvm('pvs', '--noheadings', '--nosuffix', '--units', 'b', '-o', 'pe_start', device).trim());

/** Copies `image` into the LV's extents (1 MiB each), `base` being where the PV starts in `disk`. */
export function writeIntoLv(disk: string, base: number, vg: string, lv: string, device: string, image: string): void {
  let written = 0;
  const start = peStart(device);
  for (const range of extentRanges(vg, lv)) {
    if (range.device !== device) throw new Error(`${vg}/${lv} has extents on ${range.device}, not ${device}`);
    const count = range.last - range.first + 1;
    run(
      'dd',
      `if=${image}`,
      `of=${disk}`,
      'bs=1M',
      `skip=${written}`,
      `seek=${(base + start) / MiB + range.first}`,
      `count=${count}`,
      'conv=notrunc,sparse',
      'status=none',
    );
    written += count;
  }
}

function vfatWithHello(file: string, hello: string): void {
  writeFileSync(file, '');
  truncateSync(file, 4 * MiB);
  run('mkfs.vfat', '-n', 'LVMFAT', file);
  execFileSync('mcopy', ['-i', file, hello, '::/hello.txt'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' }, stdio: 'ignore' });
}

const LVM_GUID = 'E6D6D379-F507-44C2-A23C-238F2A3DF928';

export function lvmFixtures(): LvmFixtures {
  const fs = fsFixtures();
  return cachedFixtures('diskimg-fs-lvm', import.meta.url, (dir) => {
    const extTree = fs.trees.ext;
    const hello = join(fs.trees.ext, 'hello.txt');
    const ext4 = join(dir, 'ext4.img');
    writeFileSync(ext4, '');
    truncateSync(ext4, 26 * MiB);
    run('mke2fs', '-q', '-F', '-t', 'ext4', '-d', extTree, ext4);
    const vfat = join(dir, 'vfat.img');
    vfatWithHello(vfat, hello);

    // GPT: partition 1 at 1 MiB (8 MiB, nothing in it), partition 2 the PV: 62 MiB from 9 MiB.
    const work = join(dir, 'gpt-work.img');
    writeFileSync(work, '');
    truncateSync(work, 72 * MiB);
    execFileSync('sfdisk', ['-q', work], {
      input: `label: gpt\nstart=2048, size=16384, type=0FC63DAF-8483-4772-8E3D-E4779AD6F9A0\nstart=18432, size=126976, type=${LVM_GUID}\n`,
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    const partitionStart = 18432 * 512;
    const partitionSize = 126976 * 512;
    const vg = uniqueVg('g');
    const gptBeforeExtend = join(dir, 'gpt-lvm-before-extend.img');
    const image = join(dir, 'gpt-lvm.img');
    withLoops(vg, [{ file: work, offset: partitionStart, size: partitionSize }], ([pv]) => {
      lvm('pvcreate', '-ff', '-y', '--pvmetadatacopies', '2', pv);
      lvm('vgcreate', '-s', '1M', vg, pv);
      // lv1 gets extents 0–11, lv2 12–15, and lv1's second segment 16–29 comes after lv2.
      lvm('lvcreate', '--driverloaded', 'n', '-an', '-Zn', '-L', '12M', '-n', 'lv1', vg);
      lvm('lvcreate', '--driverloaded', 'n', '-an', '-Zn', '-L', '4M', '-n', 'lv2', vg);
      copyFileSync(work, gptBeforeExtend);
      lvm('lvextend', '--driverloaded', 'n', '-L', '26M', `${vg}/lv1`);
      writeIntoLv(work, partitionStart, vg, 'lv1', pv, ext4);
      writeIntoLv(work, partitionStart, vg, 'lv2', pv, vfat);
      run('sync');
      copyFileSync(work, image);
    });
    const qcow2 = join(dir, 'gpt-lvm.qcow2');
    run('qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', image, qcow2);

    // Two whole-disk PVs in one VG.
    const a = join(dir, 'pv-a.img');
    const b = join(dir, 'pv-b.img');
    for (const f of [a, b]) {
      writeFileSync(f, '');
      truncateSync(f, 32 * MiB);
    }
    const vg2 = uniqueVg('t');
    const twoPvs = join(dir, 'two-pvs-a.img');
    withLoops(vg2, [{ file: a }, { file: b }], ([pa, pb]) => {
      lvm('pvcreate', '-ff', '-y', pa, pb);
      lvm('vgcreate', '-s', '1M', vg2, pa, pb);
      lvm('lvcreate', '--driverloaded', 'n', '-an', '-Zn', '-i', '2', '-L', '8M', '-n', 'striped', vg2);
      lvm('lvcreate', '--driverloaded', 'n', '-an', '-Zn', '-L', '4M', '-n', 'plain', vg2, pa);
      lvm('lvcreate', '--driverloaded', 'n', '-an', '-Zn', '-L', '40M', '-n', 'spans', vg2, pa, pb);
      writeIntoLv(a, 0, vg2, 'plain', pa, vfat);
      run('sync');
      copyFileSync(a, twoPvs);
    });
    return { extTree, hello, gpt: { image, qcow2, vg, partitionStart }, gptBeforeExtend, twoPvs: { image: twoPvs, vg: vg2 } };
  });
}
