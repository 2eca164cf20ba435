/**
 * LUKS volumes with a file system inside, made without device-mapper: mke2fs -d writes ext4 at
 * the start of a file and `cryptsetup reencrypt --encrypt --reduce-device-size` encrypts it in
 * place in user space (LUKS2, its header at the start, the data moved behind it), once with
 * PBKDF2 and once with Argon2id (small costs, so tests stay quick); LUKS1 is qemu-img convert
 * -O luks of the same ext4. The PBKDF2 volume also goes into partition 2 of a GPT disk as qcow2.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedFixtures } from '../support/fixture-cache.ts';
import { fsFixtures, MiB } from './fs-fixtures.ts';
import { lvm, uniqueVg, withLoops, writeIntoLv } from './fs-lvm-fixtures.ts';

export const LUKS_PASSPHRASE = 'correct horse battery';

export interface LuksFixtures {
  tree: string;
  luks2Pbkdf2: string;
  luks2Argon2id: string;
  /** LUKS2 with 4096-byte encryption sectors (cryptsetup --sector-size 4096) over ext4 on 4 KiB blocks. */
  luks2Sector4k: string;
  luks1: string;
  /** LUKS2 holding an LVM2 PV whose one LV (`vg`/root) holds the ext4, as installers lay disks out. */
  luks2Lvm: { image: string; vg: string };
  /** GPT (as gptQcow2) whose LUKS2 partition 2 holds a PV with two LVs: `vg`/root (ext4 of `tree`) and `vg`/home (FAT: hello.txt and sub/ of `fatTree`). */
  luks2TwoLvs: { gptQcow2: string; vg: string; fatTree: string };
  /** GPT: 1 empty, 2 the LUKS2 (PBKDF2) volume; as qcow2. */
  gptQcow2: string;
}

const run = (cmd: string, args: string[], input?: string) =>
  execFileSync(cmd, args, { input, encoding: 'utf8', stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });

/** ext4 from `tree` in the first 26 MiB of a 42 MiB file, encrypted in place to LUKS2. */
function luks2(file: string, tree: string, kdf: string[], ext4: string[] = []): void {
  writeFileSync(file, '');
  truncateSync(file, 42 * MiB);
  run('mke2fs', ['-q', '-F', '-t', 'ext4', ...ext4, '-d', tree, file, '26M']);
  run(
    'cryptsetup',
    [
      'reencrypt',
      '--encrypt',
      '--type',
      'luks2',
      '--reduce-device-size',
      '16M',
      '--force-offline-reencrypt',
      ...kdf,
      '--key-file',
      '-',
      '-q',
      file,
    ],
    LUKS_PASSPHRASE,
  );
}

/**
 * A PV in what will be the plaintext (the first 26 MiB of a 42 MiB file), `lvs` made in it in
 * order and each image written into its extents, then encrypted in place to LUKS2 once LVM is
 * done with it. Returns the VG's name.
 */
function luks2WithLvm(file: string, dir: string, lvs: Array<{ name: string; mib: number; image: string }>): string {
  const work = join(dir, 'luks2-lvm-work.img');
  writeFileSync(work, '');
  truncateSync(work, 42 * MiB);
  const vg = uniqueVg('l');
  withLoops(vg, [{ file: work, offset: 0, size: 26 * MiB }], ([pv]) => {
    lvm('pvcreate', '-ff', '-y', pv);
    lvm('vgcreate', '-s', '1M', vg, pv);
    for (const lv of lvs) lvm('lvcreate', '--driverloaded', 'n', '-an', '-Zn', '-L', `${lv.mib}M`, '-n', lv.name, vg);
    for (const lv of lvs) writeIntoLv(work, 0, vg, lv.name, pv, lv.image);
    run('sync', []);
    copyFileSync(work, file);
  });
  rmSync(work);
  run(
    'cryptsetup',
    [
      'reencrypt',
      '--encrypt',
      '--type',
      'luks2',
      '--reduce-device-size',
      '16M',
      '--force-offline-reencrypt',
      '--pbkdf',
      'pbkdf2',
      '--pbkdf-force-iterations',
      '1000',
      '--key-file',
      '-',
      '-q',
      file,
    ],
    LUKS_PASSPHRASE,
  );
  return vg;
}

export function luksFixtures(): LuksFixtures {
  const fs = fsFixtures();
  return cachedFixtures('diskimg-fs-luks', import.meta.url, (dir) => {
    const tree = fs.trees.ext;
    const luks2Pbkdf2 = join(dir, 'luks2-pbkdf2.img');
    luks2(luks2Pbkdf2, tree, ['--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--hash', 'sha256']);
    const luks2Argon2id = join(dir, 'luks2-argon2id.img');
    luks2(luks2Argon2id, tree, ['--pbkdf', 'argon2id', '--pbkdf-memory', '8192', '--pbkdf-force-iterations', '4', '--pbkdf-parallel', '1']);

    const luks2Sector4k = join(dir, 'luks2-4k.img');
    luks2(luks2Sector4k, tree, ['--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--sector-size', '4096'], ['-b', '4096']);

    const lvmExt4 = join(dir, 'lvm-ext4.img');
    writeFileSync(lvmExt4, '');
    truncateSync(lvmExt4, 20 * MiB);
    run('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, lvmExt4]);
    const luks2Lvm = join(dir, 'luks2-lvm.img');
    const vg = luks2WithLvm(luks2Lvm, dir, [{ name: 'root', mib: 20, image: lvmExt4 }]);
    // As an installer with a separate /home lays it out: ext4 and FAT (the FAT tree) side by side, both browsable.
    const lvmFat = join(dir, 'lvm-fat.img');
    writeFileSync(lvmFat, '');
    truncateSync(lvmFat, 4 * MiB);
    run('mkfs.vfat', ['-n', 'HOME', lvmFat]);
    execFileSync('mcopy', ['-s', '-i', lvmFat, join(fs.trees.fat, 'hello.txt'), join(fs.trees.fat, 'sub'), '::/'], {
      env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
      stdio: 'ignore',
    });
    const luks2TwoLvs = join(dir, 'luks2-two-lvs.img');
    const vg2 = luks2WithLvm(luks2TwoLvs, dir, [
      { name: 'root', mib: 20, image: lvmExt4 },
      { name: 'home', mib: 4, image: lvmFat },
    ]);

    const plain = join(dir, 'ext4.img');
    writeFileSync(plain, '');
    truncateSync(plain, 26 * MiB);
    run('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, plain]);
    const luks1 = join(dir, 'luks1.img');
    run('qemu-img', [
      'convert',
      '--object',
      `secret,id=s0,data=${LUKS_PASSPHRASE}`,
      '-f',
      'raw',
      '-O',
      'luks',
      '-o',
      'key-secret=s0,iter-time=10',
      plain,
      luks1,
    ]);

    const disk = join(dir, 'gpt-luks.img');
    writeFileSync(disk, '');
    truncateSync(disk, 52 * MiB);
    run(
      'sfdisk',
      ['-q', disk],
      'label: gpt\nstart=2048, size=16384, type=0FC63DAF-8483-4772-8E3D-E4779AD6F9A0\nstart=18432, size=86016, type=CA7D7CCB-63ED-4C53-861C-1742536059CC\n',
    );
    run('dd', [`if=${luks2Pbkdf2}`, `of=${disk}`, 'bs=1M', 'seek=9', 'conv=notrunc,sparse', 'status=none']);
    const gptQcow2 = join(dir, 'gpt-luks.qcow2');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', disk, gptQcow2]);
    run('dd', [`if=${luks2TwoLvs}`, `of=${disk}`, 'bs=1M', 'seek=9', 'conv=notrunc,sparse', 'status=none']);
    const twoLvsQcow2 = join(dir, 'gpt-luks-two-lvs.qcow2');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', disk, twoLvsQcow2]);
    return {
      tree,
      luks2Pbkdf2,
      luks2Argon2id,
      luks2Sector4k,
      luks2Lvm: { image: luks2Lvm, vg },
      luks2TwoLvs: { gptQcow2: twoLvsQcow2, vg: vg2, fatTree: fs.trees.fat },
      luks1,
      gptQcow2,
    };
  });
}
