/**
 * File-system seeds for the fs browser (src/core/filesystems/browse.ts): FAT12 and FAT16 with long
 * names and multi-cluster files and folders (mkfs.vfat + mcopy), ext2 with block maps and ext4 with
 * extents, inline data, an htree folder and metadata_csum (mke2fs -d, e2fsck -D), NTFS (mkntfs,
 * ntfs-3g), exFAT (mkfs.exfat, exfat-fuse), XFS
 * (mkfs.xfs -p), Btrfs (mkfs.btrfs --rootdir; and zlib, lzo and zstd extents written through a kernel mount), ext2 in an LVM2 logical volume (pvcreate, lvcreate) and in LUKS2 (cryptsetup reencrypt), and a GPT disk holding a FAT partition. Kept small (1 KiB blocks, few inodes) so the metadata sits in the first
 * 32 KiB, where the mutator aims most of its damage.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { junctionReparse, setxattr, symlinkReparse } from '../../support/ntfs-reparse.ts';
import type { RecipeBook } from './tools.ts';

function tree(root: string, ext: boolean): string {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(root, 'A long file name.txt'), 'long\n');
  writeFileSync(join(root, 'sub', 'deeper', 'data.bin'), Buffer.from([...Array(40_000).keys()].map((i) => (i * 7919) & 255)));
  for (let i = 0; i < 60; i++) writeFileSync(join(root, 'sub', `entry-number-${i}-with-a-long-name.txt`), `${i}\n`);
  if (ext) {
    symlinkSync('A long file name.txt', join(root, 'fast-link'));
    symlinkSync(`sub/${'d'.repeat(90)}`, join(root, 'slow-link'));
    writeFileSync(join(root, 'inline.txt'), 'inline\n');
  }
  return root;
}

function fat(file: string, dir: string, bits: 12 | 16, bytes: number): void {
  writeFileSync(file, '');
  truncateSync(file, bytes);
  execFileSync('mkfs.vfat', ['-F', String(bits), '-s', '1', '-n', 'FUZZ', file], { stdio: 'ignore' });
  const root = tree(join(dir, `fat${bits}-tree`), false);
  execFileSync('mcopy', ['-s', '-i', file, ...readdirSync(root).map((n) => join(root, n)), '::/'], {
    stdio: 'ignore',
    env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
  });
  rmSync(root, { recursive: true, force: true });
}

function ext(file: string, dir: string, args: string[]): void {
  writeFileSync(file, '');
  truncateSync(file, 1 << 20);
  const root = tree(join(dir, 'ext-tree'), true);
  execFileSync('mke2fs', ['-q', '-F', '-b', '1024', '-N', '128', ...args, '-d', root, file], { stdio: 'ignore' });
  spawnSync('e2fsck', ['-fyD', file], { stdio: 'ignore' });
  rmSync(root, { recursive: true, force: true });
}

/**
 * NTFS on 512-byte clusters: a folder with enough long names for INDX blocks, a compressed folder
 * (LZNT1), a sparse file, a symlink and a junction (reparse points), and a file whose hard links
 * and streams overflow into an attribute list, through an ntfs-3g mount; where FUSE is not allowed, a few files
 * copied in with ntfscp instead (no folders, but records, runlists and the root index).
 */
function ntfs(file: string, dir: string): void {
  writeFileSync(file, '');
  truncateSync(file, 3 << 20);
  execFileSync('mkntfs', ['-q', '-F', '-f', '-c', '512', '-L', 'FUZZ', file], { stdio: 'ignore' });
  const root = tree(join(dir, 'ntfs-tree'), true);
  const mount = join(dir, 'ntfs-mount');
  mkdirSync(mount, { recursive: true });
  if (spawnSync('ntfs-3g', ['-o', 'compression,streams_interface=xattr', file, mount], { stdio: 'ignore' }).status === 0) {
    try {
      mkdirSync(join(mount, 'compressed'));
      execFileSync('python3', [
        '-c',
        `import os; os.setxattr(${JSON.stringify(join(mount, 'compressed'))}, 'system.ntfs_attrib_be', (0x810).to_bytes(4, 'big'))`,
      ]);
      writeFileSync(join(mount, 'compressed', 'text.txt'), 'compressible line\n'.repeat(4000));
      execFileSync('cp', ['-a', '--sparse=always', `${root}/.`, mount]);
      // Reparse points (a symlink, a junction), and a file whose hard links and streams need an attribute list.
      writeFileSync(join(mount, 'relative-link'), '');
      setxattr(
        join(mount, 'relative-link'),
        'system.ntfs_reparse_data',
        symlinkReparse('sub\\deeper\\data.bin', 'sub\\deeper\\data.bin', true),
      );
      mkdirSync(join(mount, 'junction'));
      setxattr(join(mount, 'junction'), 'system.ntfs_reparse_data', junctionReparse('\\??\\C:\\sub', 'C:\\sub'));
      writeFileSync(join(mount, 'linked.txt'), 'linked\n');
      for (let i = 0; i < 6; i++) execFileSync('ln', [join(mount, 'linked.txt'), join(mount, `link-${i}-${'n'.repeat(150)}`)]);
      for (let i = 0; i < 12; i++) setxattr(join(mount, 'linked.txt'), `user.stream-${i}`, Buffer.alloc(40, 0x61 + i));
    } finally {
      execFileSync('umount', [mount]);
    }
  } else {
    for (const name of ['A long file name.txt', 'inline.txt'])
      execFileSync('ntfscp', ['-q', file, join(root, name), name], { stdio: 'ignore' });
    execFileSync('ntfscp', ['-q', file, join(root, 'sub', 'deeper', 'data.bin'), 'data.bin'], { stdio: 'ignore' });
  }
  rmSync(root, { recursive: true, force: true });
  // Where the mutator aims: the boot sector and the MFT's system records, and the records of the files made here (from 64).
  const bs = readFileSync(file).subarray(0, 512);
  const mft = Number(bs.readBigUInt64LE(48)) * bs.readUInt16LE(11) * bs[13];
  writeFileSync(`${file}.hot`, `0\n${mft + 64 * 1024}\n`);
}

/** exFAT (exfat-fuse on a loop device; where that is not allowed, the empty volume mkfs.exfat made). */
function exfat(file: string, dir: string): void {
  writeFileSync(file, '');
  truncateSync(file, 4 << 20);
  execFileSync('mkfs.exfat', ['-c', '4096', '-L', 'FUZZ', file], { stdio: 'ignore' });
  const root = tree(join(dir, 'exfat-tree'), false);
  const mount = join(dir, 'exfat-mount');
  mkdirSync(mount, { recursive: true });
  const loop = spawnSync('losetup', ['-f', '--show', file], { encoding: 'utf8' });
  if (loop.status === 0) {
    try {
      if (spawnSync('mount.exfat-fuse', [loop.stdout.trim(), mount], { stdio: 'ignore' }).status === 0) {
        try {
          execFileSync('cp', ['-r', `${root}/.`, mount]);
        } finally {
          execFileSync('umount', [mount]);
        }
      }
    } finally {
      execFileSync('losetup', ['-d', loop.stdout.trim()]);
    }
  }
  rmSync(root, { recursive: true, force: true });
}

/**
 * XFS v5 on 1 KiB blocks from a protofile: short-form and block folders, a folder in a B+tree fork.
 * mkfs.xfs refuses volumes under 300 MB unless run as fstests runs it (those variables set).
 */
function xfs(file: string, dir: string): void {
  const root = tree(join(dir, 'xfs-tree'), false);
  const lines = ['/dev/null', '0 0', 'd--755 0 0', 'sub d--755 0 0'];
  for (let i = 0; i < 60; i++)
    lines.push(`entry-number-${i}-with-a-long-name.txt ---644 0 0 ${join(root, 'sub', `entry-number-${i}-with-a-long-name.txt`)}`);
  lines.push(
    'deeper d--755 0 0',
    `data.bin ---644 0 0 ${join(root, 'sub', 'deeper', 'data.bin')}`,
    '$',
    '$',
    'link l--777 0 0 sub/deeper/data.bin',
    'many d--755 0 0',
  );
  for (let i = 0; i < 400; i++)
    lines.push(`name-${i}-${'n'.repeat(40)} ---644 0 0 ${join(root, 'sub', 'entry-number-1-with-a-long-name.txt')}`);
  lines.push('$', '$');
  const proto = join(dir, 'xfs.proto');
  writeFileSync(proto, `${lines.join('\n')}\n`);
  writeFileSync(file, '');
  truncateSync(file, 16 << 20);
  execFileSync('mkfs.xfs', ['-q', '-f', '-b', 'size=1024', '-d', 'agcount=1', '-p', proto, file], {
    stdio: 'ignore',
    env: { ...process.env, TEST_DIR: '1', TEST_DEV: '1', QA_CHECK_FS: '1' },
  });
  rmSync(root, { recursive: true, force: true });
  rmSync(proto);
}

/** Btrfs in mixed mode (data and metadata share block groups: the smallest volume mkfs.btrfs makes) from a folder. */
function btrfs(file: string, dir: string): void {
  const root = tree(join(dir, 'btrfs-tree'), true);
  writeFileSync(file, '');
  truncateSync(file, 16 << 20);
  execFileSync('mkfs.btrfs', ['-q', '-f', '-M', '--rootdir', root, file], { stdio: 'ignore' });
  rmSync(root, { recursive: true, force: true });
  // Where the mutator aims (nothing lies in the first 64 KiB): the superblock, and the root tree's block and those after it.
  writeFileSync(`${file}.hot`, ['65536', ...btrfsPhysical(file, 'root')].join('\n'));
}

/** Where the tree block the superblock's `field` names lies in the image, or nothing if btrfs-map-logical cannot say. */
function btrfsPhysical(file: string, field: string): string[] {
  const logical = new RegExp(`^${field}\\s+(\\d+)$`, 'm').exec(
    execFileSync('btrfs', ['inspect-internal', 'dump-super', file], { encoding: 'utf8' }),
  )?.[1];
  if (!logical) return [];
  const physical = /mirror 1 logical \d+ physical (\d+)/.exec(
    execFileSync('btrfs-map-logical', ['-l', logical, file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
  );
  return physical ? [physical[1]] : [];
}

/**
 * Btrfs whose folders zlib/, lzo/ and zstd/ compress what is written into them (btrfs property
 * set, through a kernel mount of a loop device): a regular compressed extent of text and noise
 * and an inline compressed one in each. The compressed extents lie megabytes into the volume, so
 * the seed's hot spots (`.hot` beside it: where the mutator aims) are the superblock and the first of them. Where the
 * kernel mount is not allowed, the uncompressed volume mkfs.btrfs made (and a warning).
 */
function btrfsCompressed(file: string, dir: string): void {
  writeFileSync(file, '');
  truncateSync(file, 16 << 20);
  execFileSync('mkfs.btrfs', ['-q', '-f', '-M', file], { stdio: 'ignore' });
  const mount = join(dir, 'btrfs-mount');
  mkdirSync(mount, { recursive: true });
  if (spawnSync('mount', ['-o', 'loop', file, mount], { stdio: 'ignore' }).status !== 0) {
    console.warn(`fuzz seeds: ${file} has no compressed extents (mounting Btrfs is not allowed here)`);
    return;
  }
  try {
    for (const method of ['zlib', 'lzo', 'zstd']) {
      mkdirSync(join(mount, method));
      execFileSync('btrfs', ['property', 'set', join(mount, method), 'compression', method]);
      const text = Array.from({ length: 300 }, (_, i) => `line ${i} of ${method}, compressed by the kernel, ${i % 97}\n`).join('');
      const noise = Buffer.from([...Array(3000).keys()].map((i) => (i * 7919 + (i >> 5) * 31) & 255));
      writeFileSync(join(mount, method, 'text.txt'), Buffer.concat([Buffer.from(text), noise, Buffer.from(text)]));
      writeFileSync(join(mount, method, 'inline.txt'), `${method} inline `.repeat(40));
    }
  } finally {
    execFileSync('umount', [mount]);
  }
  const dump = execFileSync('btrfs', ['inspect-internal', 'dump-tree', '-t', 'fs', file], { encoding: 'utf8' });
  const logical = Math.min(...[...dump.matchAll(/extent data disk byte (\d+) nr/g)].map((m) => Number(m[1])));
  const physical = /mirror 1 logical \d+ physical (\d+)/.exec(
    execFileSync('btrfs-map-logical', ['-l', String(logical), file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
  );
  // The superblock, and the first compressed extent.
  writeFileSync(`${file}.hot`, ['65536', ...(physical ? [physical[1]] : [])].join('\n'));
}

/**
 * An LVM2 PV (pvcreate on a loop device, small metadata area and 64 KiB extents) whose LV `a` has
 * two segments with LV `b` between them, the ext2 seed written into a's extents: the label, the
 * metadata text and the segment mapping all sit in the first 64 KiB. The VG is removed and the
 * loop device detached whatever happens.
 */
function lvm(file: string, dir: string): void {
  const env = { ...process.env, LVM_SUPPRESS_FD_WARNINGS: '1' };
  const lvmRun = (...args: string[]) =>
    execFileSync(args[0], [...args.slice(1), '--config', 'backup { backup = 0 archive = 0 }'], {
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  const fs = join(dir, 'lvm-inner-ext2.img');
  ext(fs, dir, ['-t', 'ext2']);
  const vg = `fuzz${process.pid}x${Math.floor(Math.random() * 1e6)}`;
  // Built in a scratch file and copied out before vgremove, which wipes the metadata.
  const work = join(dir, 'lvm-work.img');
  writeFileSync(work, '');
  truncateSync(work, 3 << 20);
  const loop = execFileSync('losetup', ['-f', '--show', work], { encoding: 'utf8' }).trim();
  try {
    lvmRun('pvcreate', '-ff', '-y', '--metadatasize', '16k', '--dataalignment', '64k', loop);
    lvmRun('vgcreate', '-s', '64k', vg, loop);
    lvmRun('lvcreate', '--driverloaded', 'n', '-an', '-Zn', '-L', '512k', '-n', 'a', vg);
    lvmRun('lvcreate', '--driverloaded', 'n', '-an', '-Zn', '-L', '128k', '-n', 'b', vg);
    lvmRun('lvextend', '--driverloaded', 'n', '-L', '1M', `${vg}/a`);
    const ranges = lvmRun('lvs', '--driverloaded', 'n', '--noheadings', '-o', 'seg_pe_ranges', `${vg}/a`).trim().split(/\s+/);
    let done = 0;
    for (const range of ranges) {
      const [first, last] = range
        .slice(range.lastIndexOf(':') + 1)
        .split('-')
        .map(Number);
      execFileSync('dd', [
        `if=${fs}`,
        `of=${work}`,
        'bs=64k',
        `skip=${done}`,
        `seek=${1 + first}`,
        `count=${last - first + 1}`,
        'conv=notrunc',
        'status=none',
      ]);
      done += last - first + 1;
    }
    copyFileSync(work, file);
  } finally {
    spawnSync('vgremove', ['-f', vg, '--config', 'backup { backup = 0 archive = 0 }'], { env, stdio: 'ignore' });
    execFileSync('losetup', ['-d', loop]);
    rmSync(fs, { force: true });
    rmSync(work, { force: true });
  }
}

/** The fuzz passphrase: the fs target unlocks LUKS partitions with it (test/fuzz/targets.ts). */
export const FUZZ_PASSPHRASE = 'fuzz';

/**
 * ext2 encrypted in place to LUKS2 by cryptsetup (user space, no device-mapper), with the
 * smallest metadata and key-slot areas and a PBKDF2 slot of 1000 iterations, so a mutant costs
 * little to unlock: the binary headers, the JSON and the key material all sit in the first 288 KiB.
 */
function luks2(file: string, dir: string): void {
  ext(file, dir, ['-t', 'ext2']);
  truncateSync(file, 2 << 20);
  execFileSync(
    'cryptsetup',
    [
      'reencrypt',
      '--encrypt',
      '--type',
      'luks2',
      '--reduce-device-size',
      '1M',
      '--force-offline-reencrypt',
      '--pbkdf',
      'pbkdf2',
      '--pbkdf-force-iterations',
      '1000',
      '--luks2-metadata-size',
      '16k',
      '--luks2-keyslots-size',
      '256k',
      '--key-file',
      '-',
      '-q',
      file,
    ],
    { input: FUZZ_PASSPHRASE, stdio: ['pipe', 'ignore', 'ignore'] },
  );
}

export const filesystemRecipes: RecipeBook = {
  url: import.meta.url,
  tools: [
    'mkfs.vfat',
    'mcopy',
    'mke2fs',
    'e2fsck',
    'sfdisk',
    'mkntfs',
    'ntfscp',
    'mkfs.exfat',
    'mkfs.xfs',
    'mkfs.btrfs',
    'pvcreate',
    'losetup',
  ],
  recipes: {
    'fat12.img': (f, dir) => fat(f, dir, 12, 1 << 20),
    'fat16.img': (f, dir) => fat(f, dir, 16, 3 << 20),
    'ext2.img': (f, dir) => ext(f, dir, ['-t', 'ext2']),
    'ext4.img': (f, dir) => ext(f, dir, ['-t', 'ext4', '-O', 'inline_data,metadata_csum,64bit,^has_journal']),
    'ntfs.img': (f, dir) => ntfs(f, dir),
    'exfat.img': (f, dir) => exfat(f, dir),
    'xfs.img': (f, dir) => xfs(f, dir),
    'btrfs.img': (f, dir) => btrfs(f, dir),
    'btrfs-compressed.img': (f, dir) => btrfsCompressed(f, dir),
    'lvm-ext2.img': (f, dir) => lvm(f, dir),
    'luks2-ext2.img': (f, dir) => luks2(f, dir),
    'gpt-fat12.img': (f, dir) => {
      const part = join(dir, 'gpt-part.img');
      fat(part, dir, 12, 1 << 20);
      writeFileSync(f, '');
      truncateSync(f, 3 << 20);
      execFileSync('sfdisk', ['-q', f], {
        input: 'label: gpt\nstart=2048, size=2048, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n',
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      execFileSync('dd', [`if=${part}`, `of=${f}`, 'bs=512', 'seek=2048', 'conv=notrunc', 'status=none']);
      rmSync(part);
    },
  },
};
