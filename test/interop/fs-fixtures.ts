/**
 * File systems made by their own tools from a folder tree the test writes: mkfs.vfat + mcopy
 * (FAT12/16/32), mke2fs -d (ext2 with block maps on 1 KiB blocks, ext4 with extents, inline data,
 * metadata_csum, 64-bit), alone and as partitions of GPT and MBR disks (sfdisk) converted to qcow2.
 * Built once into a cache folder keyed by this file's content; images are sparse.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedFixtures } from '../support/fixture-cache.ts';

export const MiB = 1024 * 1024;

export interface TreeEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  size: number;
  target?: string;
  sha256?: string;
}

export interface FsFixtures {
  dir: string;
  /** The folder trees that went in: what every listing is compared with. */
  trees: { fat: string; ext: string; ntfs: string };
  images: { fat12: string; fat16: string; fat32: string; ext2: string; ext4: string };
  /**
   * mkntfs, filled through an ntfs-3g (FUSE) mount: the ext tree plus a compressed folder. Null
   * where FUSE mounts are not allowed (the NTFS tests then say so and are skipped).
   */
  ntfs: { image: string; qcow2: string } | null;
  ntfsUnavailable?: string;
  /** mkfs.xfs (v5, CRCs) from a protofile listing the ext tree, but for XFS_LEFT_OUT entries. */
  xfs: { image: string; qcow2: string };
  /** mkfs.btrfs --rootdir from the ext tree (one device, DUP metadata, inline and regular extents). */
  btrfs: { image: string; qcow2: string };
  /** mkfs.exfat, filled through exfat-fuse on a loop device: the FAT tree. Null where that is not allowed. */
  exfat: { image: string; qcow2: string } | null;
  exfatUnavailable?: string;
  /** GPT: 1 FAT32, 2 ext4; MBR: 1 ext2, 2 extended, 5 FAT16 (logical). Both as qcow2 too. */
  gpt: string;
  gptQcow2: string;
  mbr: string;
  mbrQcow2: string;
}

const run = (cmd: string, args: string[], env?: Record<string, string>) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', env: { ...process.env, ...env } });

/** Bytes that differ everywhere (no run of zeros a reader could get right by accident). */
function noise(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed * 2654435761 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** The tree both FAT and ext get; ext adds links, a sparse file, tiny inline files and a big folder. */
function writeTree(root: string, ext: boolean): void {
  mkdirSync(join(root, 'sub', 'deeper'), { recursive: true });
  mkdirSync(join(root, 'empty'));
  writeFileSync(join(root, 'hello.txt'), 'hello, world\n');
  writeFileSync(join(root, 'A Long File Name With Spaces.text'), 'long names\n');
  writeFileSync(join(root, 'Tiếng Việt.txt'), 'xin chào\n');
  writeFileSync(join(root, 'UPPER.TXT'), 'upper\n');
  writeFileSync(join(root, 'sub', 'deeper', 'data.bin'), noise(300_000, 7));
  writeFileSync(join(root, 'big.bin'), noise(3 * MiB + 12345, 11));
  writeFileSync(join(root, 'zero-length'), '');
  mkdirSync(join(root, 'many'));
  const many = ext ? 3000 : 300;
  for (let i = 0; i < many; i++)
    writeFileSync(join(root, 'many', `file-${String(i).padStart(5, '0')}-with-a-longer-name.txt`), `file ${i}\n`);
  if (!ext) return;
  symlinkSync('hello.txt', join(root, 'fast-link'));
  symlinkSync(`sub/deeper/${'x'.repeat(80)}/${'y'.repeat(40)}/data.bin`, join(root, 'slow-link'));
  // Too long for an XFS inode: kept in a remote block.
  symlinkSync(Array.from({ length: 12 }, (_, i) => `${String(i).repeat(50)}`).join('/'), join(root, 'long-link'));
  writeFileSync(join(root, 'tiny-inline.txt'), 'small enough to live in the inode\n');
  writeFileSync(join(root, 'medium-inline.txt'), 'i'.repeat(100));
  // Sparse: 8 MiB with data only at 4 MiB and at the very end.
  const sparse = join(root, 'sparse.bin');
  writeFileSync(sparse, '');
  truncateSync(sparse, 8 * MiB);
  execFileSync('dd', [`of=${sparse}`, 'bs=4096', 'seek=1024', 'conv=notrunc', 'status=none'], { input: noise(8192, 3) });
  execFileSync('dd', [`of=${sparse}`, 'bs=1', `seek=${8 * MiB - 5}`, 'conv=notrunc', 'status=none'], { input: Buffer.from('tail\n') });
}

/** Every entry of a host folder, as absolute paths from its root, with each file's SHA-256. */
export function describeTree(root: string): TreeEntry[] {
  const out: TreeEntry[] = [];
  const visit = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const path = `${prefix}/${name}`;
      const st = lstatSync(full);
      if (st.isSymbolicLink()) {
        const target = readlinkSync(full);
        out.push({ path, type: 'symlink', size: Buffer.byteLength(target), target });
      } else if (st.isDirectory()) {
        out.push({ path, type: 'dir', size: 0 });
        visit(full, path);
      } else out.push({ path, type: 'file', size: st.size, sha256: createHash('sha256').update(readFileSync(full)).digest('hex') });
    }
  };
  visit(root, '');
  return out;
}

function fat(file: string, bits: 12 | 16 | 32, bytes: number, tree: string): void {
  writeFileSync(file, '');
  truncateSync(file, bytes);
  run('mkfs.vfat', ['-F', String(bits), '-n', `FAT${bits}`, file]);
  const names = readdirSync(tree).map((n) => join(tree, n));
  run('mcopy', ['-s', '-i', file, ...names, '::/'], { MTOOLS_SKIP_CHECK: '1' });
}

function ext(file: string, args: string[], bytes: number, tree: string): void {
  writeFileSync(file, '');
  truncateSync(file, bytes);
  run('mke2fs', ['-q', '-F', ...args, '-d', tree, file]);
}

/** A disk of `bytes` with sfdisk's `script`, each file system copied into its partition. */
function disk(file: string, bytes: number, script: string, parts: Array<{ image: string; startSector: number }>): void {
  writeFileSync(file, '');
  truncateSync(file, bytes);
  execFileSync('sfdisk', ['-q', file], { input: script, stdio: ['pipe', 'ignore', 'pipe'] });
  for (const p of parts)
    run('dd', [`if=${p.image}`, `of=${file}`, 'bs=512', `seek=${p.startSector}`, 'conv=notrunc,sparse', 'status=none']);
}

/** An NTFS volume holding `tree`, with `compressed/` made a compressed folder before files are copied in. */
function ntfs(file: string, tree: string, mountPoint: string): void {
  writeFileSync(file, '');
  truncateSync(file, 64 * MiB);
  run('mkntfs', ['-q', '-F', '-f', '-L', 'NTFS tree', file]);
  mkdirSync(mountPoint, { recursive: true });
  run('ntfs-3g', ['-o', 'compression,streams_interface=xattr', file, mountPoint]);
  try {
    mkdirSync(join(mountPoint, 'compressed'));
    // FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_COMPRESSED: what is created inside is LZNT1-compressed.
    run('python3', [
      '-c',
      `import os; os.setxattr(${JSON.stringify(join(mountPoint, 'compressed'))}, 'system.ntfs_attrib_be', (0x810).to_bytes(4, 'big'))`,
    ]);
    run('cp', ['-a', '--sparse=always', `${tree}/.`, mountPoint]);
    // Two alternate data streams on hello.txt (ntfs-3g's streams_interface=xattr: user.NAME is stream NAME).
    run('python3', [
      '-c',
      `import os; p = ${JSON.stringify(join(mountPoint, 'hello.txt'))}; os.setxattr(p, 'user.Zone.Identifier', b'[ZoneTransfer]\\r\\nZoneId=3\\r\\n'); os.setxattr(p, 'user.summary', b'x' * 5000)`,
    ]);
  } finally {
    run('umount', [mountPoint]);
  }
}

/**
 * mkfs.xfs's protofile for `root`: names with white space left out (the format splits on it), and
 * symlinks too long for the inode (mkfs.xfs 6.1 -p writes their remote blocks without the v5 XSLM
 * header, which xfs_db itself reports as a CRC error).
 */
export const XFS_LEFT_OUT = (entry: { path: string; type: string; target?: string }) =>
  /\s/.test(entry.path) || (entry.type === 'symlink' && (entry.target?.length ?? 0) > 300);

function protofile(root: string): string {
  const lines = ['/dev/null', '0 0', 'd--755 0 0'];
  const visit = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const st = lstatSync(full);
      if (
        XFS_LEFT_OUT({
          path: name,
          type: st.isSymbolicLink() ? 'symlink' : 'file',
          target: st.isSymbolicLink() ? readlinkSync(full) : undefined,
        })
      )
        continue;
      const mode = (st.mode & 0o777).toString(8).padStart(3, '0');
      if (st.isSymbolicLink()) lines.push(`${name} l--${mode} 0 0 ${readlinkSync(full)}`);
      else if (st.isDirectory()) {
        lines.push(`${name} d--${mode} 0 0`);
        visit(full);
        lines.push('$');
      } else lines.push(`${name} ---${mode} 0 0 ${full}`);
    }
  };
  visit(root);
  lines.push('$');
  return `${lines.join('\n')}\n`;
}

/** An exFAT volume holding `tree` (exfat-fuse wants a block device when run as root: a loop device). */
function exfat(file: string, tree: string, mountPoint: string): void {
  writeFileSync(file, '');
  truncateSync(file, 64 * MiB);
  run('mkfs.exfat', ['-L', 'exFAT tree', file]);
  mkdirSync(mountPoint, { recursive: true });
  const loop = run('losetup', ['-f', '--show', file]).trim();
  try {
    run('mount.exfat-fuse', [loop, mountPoint]);
    try {
      run('cp', ['-r', '--preserve=timestamps', `${tree}/.`, mountPoint]);
    } finally {
      run('umount', [mountPoint]);
    }
  } finally {
    run('losetup', ['-d', loop]);
  }
}

export function fsFixtures(): FsFixtures {
  return cachedFixtures('diskimg-fs', import.meta.url, (dir) => {
    const fatTree = join(dir, 'tree-fat');
    const extTree = join(dir, 'tree-ext');
    writeTree(fatTree, false);
    writeTree(extTree, true);
    const images = {
      fat12: join(dir, 'fat12.img'),
      fat16: join(dir, 'fat16.img'),
      fat32: join(dir, 'fat32.img'),
      ext2: join(dir, 'ext2.img'),
      ext4: join(dir, 'ext4.img'),
    };
    fat(images.fat12, 12, 8 * MiB, fatTree);
    fat(images.fat16, 16, 32 * MiB, fatTree);
    fat(images.fat32, 32, 64 * MiB, fatTree);
    ext(images.ext2, ['-t', 'ext2', '-b', '1024', '-L', 'ext2-tree'], 32 * MiB, extTree);
    ext(images.ext4, ['-t', 'ext4', '-O', 'inline_data,64bit,metadata_csum', '-L', 'ext4-tree'], 64 * MiB, extTree);
    // mke2fs -d links entries one by one (a linear folder); e2fsck -D re-indexes /many as an htree.
    const fsck = spawnSync('e2fsck', ['-fyD', images.ext4], { stdio: 'ignore' });
    if (fsck.status !== 0 && fsck.status !== 1) throw new Error(`e2fsck -fyD failed (${fsck.status})`);
    const gpt = join(dir, 'gpt.img');
    disk(
      gpt,
      140 * MiB,
      'label: gpt\nstart=2048, size=131072, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\nstart=133120, size=131072, type=0FC63DAF-8483-4772-8E3D-693D8477DE47\n',
      [
        { image: images.fat32, startSector: 2048 },
        { image: images.ext4, startSector: 133120 },
      ],
    );
    const mbr = join(dir, 'mbr.img');
    disk(mbr, 80 * MiB, 'label: dos\nstart=2048, size=65536, type=83\nstart=69632, size=90112, type=5\nstart=71680, size=65536, type=6\n', [
      { image: images.ext2, startSector: 2048 },
      { image: images.fat16, startSector: 71680 },
    ]);
    const gptQcow2 = join(dir, 'gpt.qcow2');
    const mbrQcow2 = join(dir, 'mbr.qcow2');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', gpt, gptQcow2]);
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', mbr, mbrQcow2]);
    const ntfsTree = join(dir, 'tree-ntfs');
    writeTree(ntfsTree, true);
    mkdirSync(join(ntfsTree, 'compressed'));
    let text = '';
    for (let i = 0; text.length < 600_000; i++) text += `line ${i} of a text that compresses well, ${i % 97}\n`;
    writeFileSync(join(ntfsTree, 'compressed', 'text.txt'), text);
    writeFileSync(join(ntfsTree, 'compressed', 'noise.bin'), noise(200_000, 5));
    let ntfsImages: FsFixtures['ntfs'] = null;
    let ntfsUnavailable: string | undefined;
    try {
      const image = join(dir, 'ntfs.img');
      ntfs(image, ntfsTree, join(dir, 'ntfs-mount'));
      const qcow2 = join(dir, 'ntfs.qcow2');
      run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', image, qcow2]);
      ntfsImages = { image, qcow2 };
    } catch (error) {
      ntfsUnavailable = `mkntfs + ntfs-3g could not make the NTFS fixture (a FUSE mount is needed): ${String((error as Error).message).split('\n')[0]}`;
    }
    const proto = join(dir, 'xfs.proto');
    writeFileSync(proto, protofile(extTree));
    const xfsImage = join(dir, 'xfs.img');
    writeFileSync(xfsImage, '');
    truncateSync(xfsImage, 320 * MiB);
    run('mkfs.xfs', ['-q', '-L', 'xfs-tree', '-p', proto, xfsImage]);
    const xfsQcow2 = join(dir, 'xfs.qcow2');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', xfsImage, xfsQcow2]);
    const btrfsImage = join(dir, 'btrfs.img');
    writeFileSync(btrfsImage, '');
    truncateSync(btrfsImage, 256 * MiB);
    run('mkfs.btrfs', ['-q', '-f', '-L', 'btrfs-tree', '--rootdir', extTree, btrfsImage]);
    const btrfsQcow2 = join(dir, 'btrfs.qcow2');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', btrfsImage, btrfsQcow2]);
    let exfatImages: FsFixtures['exfat'] = null;
    let exfatUnavailable: string | undefined;
    try {
      const image = join(dir, 'exfat.img');
      exfat(image, fatTree, join(dir, 'exfat-mount'));
      const qcow2 = join(dir, 'exfat.qcow2');
      run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', image, qcow2]);
      exfatImages = { image, qcow2 };
    } catch (error) {
      exfatUnavailable = `mkfs.exfat + exfat-fuse could not make the exFAT fixture (a loop device and a FUSE mount are needed): ${String((error as Error).message).split('\n')[0]}`;
    }
    return {
      dir,
      trees: { fat: fatTree, ext: extTree, ntfs: ntfsTree },
      images,
      ntfs: ntfsImages,
      ntfsUnavailable,
      xfs: { image: xfsImage, qcow2: xfsQcow2 },
      btrfs: { image: btrfsImage, qcow2: btrfsQcow2 },
      exfat: exfatImages,
      exfatUnavailable,
      gpt,
      gptQcow2,
      mbr,
      mbrQcow2,
    };
  });
}
