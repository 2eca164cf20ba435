/**
 * Disks with real partition tables (sfdisk, sgdisk) and real file systems (mkfs.*, mkswap,
 * cryptsetup, pvcreate, genisoimage), each file system made in its own sparse file and copied into
 * its partition with dd. Built once into a cache folder keyed by this file's content; every file
 * is sparse, so the cache takes a few MiB of real space.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedFixtures } from '../support/fixture-cache.ts';

export const MiB = 1024 * 1024;

export type FsKind =
  | 'ext2'
  | 'ext3'
  | 'ext4'
  | 'xfs'
  | 'btrfs'
  | 'ntfs'
  | 'fat12'
  | 'fat16'
  | 'fat32'
  | 'exfat'
  | 'swap'
  | 'luks1'
  | 'luks2'
  | 'lvm'
  | 'iso9660';

export interface PartitionFixtures {
  dir: string;
  /** One file per file system, each a whole-disk ("superfloppy") image. */
  filesystems: Record<string, { file: string; kind: FsKind }>;
  /** MBR: primaries, an extended partition and logical partitions; index → what was written there. */
  mbr: { file: string; contents: Record<number, FsKind> };
  /** GPT made by sgdisk: names, type codes, attributes, one partition left without a file system. */
  gpt: { file: string; contents: Record<number, FsKind> };
  /** GPT on 4096-byte sectors (fdisk -b 4096). */
  gpt4k: { file: string; contents: Record<number, FsKind> };
  /** A small GPT without file systems, for damaging copies. */
  smallGpt: string;
  /** A small MBR with an extended partition and two logical ones, for damaging copies. */
  smallMbr: string;
  /** The MBR and GPT disks converted to qcow2. */
  mbrQcow2: string;
  gptQcow2: string;
  /** An overlay on gptQcow2 that writes a different file system over partition `overlayPartition`. */
  overlay: string;
  overlayPartition: number;
  /** The overlay flattened by qemu-img, for blkid to look at. */
  overlayFlat: string;
}

const LABELS: Record<FsKind, string> = {
  ext2: 'small-ext2',
  ext3: 'journal-ext3',
  ext4: 'root-ext4',
  xfs: 'xfs-data',
  btrfs: 'pool-btrfs',
  ntfs: 'Windows Données',
  fat12: 'FLOPPY',
  fat16: 'MBRFAT16',
  fat32: 'ESP',
  exfat: 'exFAT stick',
  swap: 'swap-part',
  luks1: '',
  luks2: 'vault-luks2',
  lvm: '',
  iso9660: 'INSTALL_CD',
};

let cwd = '.';
const run = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
const runInput = (input: string, cmd: string, ...args: string[]) =>
  execFileSync(cmd, args, { cwd, input, stdio: ['pipe', 'pipe', 'pipe'], encoding: 'utf8' });

/** A sparse file of `bytes` holding a fresh `kind` file system. */
export function makeFilesystem(kind: FsKind, file: string, bytes: number, seed = 1): string {
  rmSync(file, { force: true });
  writeFileSync(file, '');
  truncateSync(file, bytes);
  const label = LABELS[kind];
  const uuid = `${seed.toString(16).padStart(8, '0')}-1234-4abc-8def-${kind.length.toString(16).padStart(4, '0')}deadbeef`;
  switch (kind) {
    case 'ext2':
    case 'ext3':
    case 'ext4':
      run(`mkfs.${kind}`, '-q', '-F', '-L', label, '-U', uuid, file);
      break;
    case 'xfs':
      run('mkfs.xfs', '-q', '-f', '-L', label, '-m', `uuid=${uuid}`, file);
      break;
    case 'btrfs':
      run('mkfs.btrfs', '-q', '-f', '-L', label, '-U', uuid, file);
      break;
    case 'ntfs':
      run('mkntfs', '-q', '-F', '-Q', '-L', label, file);
      break;
    case 'fat12':
    case 'fat16':
    case 'fat32':
      run(
        'mkfs.vfat',
        '-F',
        kind.slice(3),
        ...(kind === 'fat32' ? ['-s', '1'] : []),
        '-n',
        label,
        '-i',
        `${seed.toString(16).padStart(4, '0')}BEEF`,
        file,
      );
      break;
    case 'exfat':
      run('mkfs.exfat', '-L', label, file);
      break;
    case 'swap':
      run('mkswap', '-L', label, '-U', uuid, file);
      break;
    case 'luks1':
    case 'luks2': {
      const key = `${file}.key`;
      writeFileSync(key, 'not a secret');
      // A 1 MiB keyslot area instead of 16 MiB of random bytes (cryptsetup warns that it is small; it is a test).
      const v2 = kind === 'luks2' ? ['--label', label, '--luks2-keyslots-size', '1m'] : [];
      run(
        'cryptsetup',
        'luksFormat',
        '-q',
        '--type',
        kind,
        '--pbkdf',
        'pbkdf2',
        '--pbkdf-force-iterations',
        '1000',
        '--uuid',
        uuid,
        ...v2,
        '--key-file',
        key,
        file,
      );
      break;
    }
    case 'lvm': {
      // pvcreate takes only block devices: attach the file to a loop device for the moment.
      const device = run('losetup', '-f', '--show', file).trim();
      try {
        run('pvcreate', '-ff', '-y', '--norestorefile', '--uuid', `Lv${seed % 10}Pv1-abcd-EFGH-ijkl-MNOP-qrst-uvwxyZ`, device);
      } finally {
        run('losetup', '-d', device);
      }
      break;
    }
    case 'iso9660': {
      const content = `${file}.d`;
      mkdirSync(content, { recursive: true });
      writeFileSync(join(content, 'README.TXT'), 'hello\n');
      run('genisoimage', '-quiet', '-V', label, '-o', file, content);
      break;
    }
  }
  return file;
}

interface SfdiskPartition {
  node: string;
  start: number;
  size: number;
  type: string;
}

export function sfdiskJson(file: string): { partitiontable: Record<string, unknown> & { partitions: SfdiskPartition[] } } {
  return JSON.parse(run('sfdisk', '--json', file));
}

/** sfdisk 2.38 has no --sector-size: fdisk -b 4096 lists a 4Kn GPT in a file (start and size in 4096-byte sectors). */
export function fdisk4k(file: string): { id: string; partitions: (SfdiskPartition & { uuid: string; name: string })[] } {
  const out = run('fdisk', '-b', '4096', '-l', '-o', 'Device,Start,Sectors,Type-UUID,UUID,Name', file);
  const id = /Disk identifier: (\S+)/.exec(out)![1];
  const partitions = out
    .split('\n')
    .filter((line) => line.startsWith(file))
    .map((line) => {
      const [node, start, size, type, uuid, ...name] = line.trim().split(/\s+/);
      return { node, start: Number(start), size: Number(size), type, uuid, name: name.join(' ') };
    });
  return { id, partitions };
}

export const partitionIndex = (node: string) => Number(/(\d+)$/.exec(node)![1]);

/** Makes each file system at its partition's size and copies it in (holes stay holes). */
function fill(disk: string, contents: Record<number, FsKind>, sectorSize = 512): void {
  const partitions = sectorSize === 512 ? sfdiskJson(disk).partitiontable.partitions : fdisk4k(disk).partitions;
  for (const p of partitions) {
    const index = partitionIndex(p.node);
    const kind = contents[index];
    if (!kind) continue;
    const fs = makeFilesystem(kind, `${disk}.p${index}.${kind}`, p.size * sectorSize, index);
    run('dd', `if=${fs}`, `of=${disk}`, `bs=${sectorSize}`, `seek=${p.start}`, 'conv=notrunc,sparse', 'status=none');
    rmSync(fs);
  }
}

function blank(file: string, bytes: number): string {
  writeFileSync(file, '');
  truncateSync(file, bytes);
  return file;
}

function build(dir: string): PartitionFixtures {
  cwd = dir;
  const f = (name: string) => join(dir, name);

  const filesystems: PartitionFixtures['filesystems'] = {};
  const sizes: Partial<Record<FsKind, number>> = {
    ext2: 16,
    ext3: 16,
    ext4: 32,
    xfs: 300,
    btrfs: 128,
    ntfs: 16,
    fat12: 2,
    fat16: 32,
    fat32: 40,
    exfat: 16,
    swap: 8,
    luks1: 8,
    luks2: 20,
    lvm: 8,
  };
  for (const [kind, size] of Object.entries(sizes) as [FsKind, number][]) {
    filesystems[kind] = { file: makeFilesystem(kind, f(`${kind}.img`), size * MiB, 7), kind };
  }
  filesystems.iso9660 = { file: makeFilesystem('iso9660', f('cd.iso'), 0, 7), kind: 'iso9660' };

  const mbr = blank(f('mbr.raw'), 200 * MiB);
  runInput(
    [
      'label: dos',
      'label-id: 0x1234abcd',
      'start=2048, size=40MiB, type=6, bootable',
      'size=32MiB, type=83',
      'type=5',
      'size=16MiB, type=82',
      'size=24MiB, type=7',
      'size=24MiB, type=7',
      'size=16MiB, type=83',
      'size=16MiB, type=83',
      'size=4MiB, type=1',
      'size=8MiB, type=83',
    ].join('\n'),
    'sfdisk',
    '-q',
    mbr,
  );
  const mbrContents: Record<number, FsKind> = {
    1: 'fat16',
    2: 'ext4',
    5: 'swap',
    6: 'ntfs',
    7: 'exfat',
    8: 'ext2',
    9: 'ext3',
    10: 'fat12',
  };
  fill(mbr, mbrContents);

  const gpt = blank(f('gpt.raw'), 240 * MiB);
  run('sgdisk', '-U', '8A3D1F1E-5B4C-4D3E-9F20-112233445566', gpt);
  const gptLayout: [number, string, string, string][] = [
    [1, '40M', 'ef00', 'EFI system partition'],
    [2, '128M', '8304', 'root'],
    [3, '8M', '8e00', 'lvm-pv'],
    [4, '8M', '8309', 'luks1 volume'],
    [5, '24M', '8309', 'luks2 ünïcode'],
    [6, '8M', '8200', 'swap'],
    [7, '4M', '0700', 'no file system'],
  ];
  for (const [n, size, code, name] of gptLayout) run('sgdisk', '-n', `${n}:0:+${size}`, '-t', `${n}:${code}`, '-c', `${n}:${name}`, gpt);
  run('sgdisk', '-u', '2:0F0E0D0C-0B0A-4908-8706-050403020100', '-A', '7:set:0', '-A', '7:set:60', '-A', '7:set:63', gpt);
  const gptContents: Record<number, FsKind> = { 1: 'fat32', 2: 'btrfs', 3: 'lvm', 4: 'luks1', 5: 'luks2', 6: 'swap' };
  fill(gpt, gptContents);

  const gpt4k = blank(f('gpt4k.raw'), 64 * MiB);
  // fdisk's dialogue: new GPT, partition 1 of 24 MiB (Linux filesystem), partition 2 of 16 MiB, its type 19 (Linux swap).
  runInput('g\nn\n1\n\n+24M\nn\n2\n\n+16M\nt\n2\n19\nw\n', 'fdisk', '-b', '4096', gpt4k);
  const gpt4kContents: Record<number, FsKind> = { 1: 'ext4', 2: 'swap' };
  fill(gpt4k, gpt4kContents, 4096);

  const smallGpt = blank(f('small-gpt.raw'), 8 * MiB);
  run('sgdisk', '-n', '1:0:+2M', '-t', '1:8300', '-c', '1:first', '-n', '2:0:0', '-t', '2:0700', '-c', '2:second', smallGpt);
  const smallMbr = blank(f('small-mbr.raw'), 16 * MiB);
  runInput(['label: dos', 'size=2MiB, type=83', 'type=5', 'size=2MiB, type=82', 'size=2MiB, type=7'].join('\n'), 'sfdisk', '-q', smallMbr);

  const mbrQcow2 = f('mbr.qcow2');
  const gptQcow2 = f('gpt.qcow2');
  run('qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', mbr, mbrQcow2);
  run('qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', gpt, gptQcow2);
  // The overlay replaces the swap of partition 6 with the first MiB of a fresh ext2.
  const overlay = f('overlay.qcow2');
  const overlayPartition = 6;
  run('qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'gpt.qcow2', '-F', 'qcow2', overlay);
  const replacement = makeFilesystem('ext2', f('overlay-ext2.img'), 8 * MiB, 99);
  const start = sfdiskJson(gpt).partitiontable.partitions.find((p) => partitionIndex(p.node) === overlayPartition)!.start * 512;
  run('qemu-io', '-f', 'qcow2', '-c', `write -s ${replacement} ${start} 1M`, overlay);
  const overlayFlat = f('overlay-flat.raw');
  run('qemu-img', 'convert', '-O', 'raw', overlay, overlayFlat);

  // mkfs.xfs and cryptsetup write long runs of zeros (the log, the keyslot area): punch them back into holes.
  for (const file of [...Object.values(filesystems).map((fs) => fs.file), mbr, gpt, gpt4k, overlayFlat])
    run('fallocate', '--dig-holes', file);

  return {
    dir,
    filesystems,
    mbr: { file: mbr, contents: mbrContents },
    gpt: { file: gpt, contents: gptContents },
    gpt4k: { file: gpt4k, contents: gpt4kContents },
    smallGpt,
    smallMbr,
    mbrQcow2,
    gptQcow2,
    overlay,
    overlayPartition,
    overlayFlat,
  };
}

let cached: PartitionFixtures | undefined;

/** The fixtures, built once per version of this file (see cachedFixtures). */
export function partitionFixtures(): PartitionFixtures {
  return (cached ??= cachedFixtures('diskimg-partitions', import.meta.url, build));
}

/** blkid's view of a stretch of a file (low-level probe, as `blkid -p -O offset -S size`). */
export function blkid(file: string, offset = 0, size?: number): Record<string, string> {
  const args = ['-p', '-o', 'export', '-O', String(offset), ...(size !== undefined ? ['-S', String(size)] : []), file];
  let out: string;
  try {
    out = execFileSync('blkid', args, { encoding: 'utf8' });
  } catch (error) {
    // Exit code 2: nothing found.
    if ((error as { status?: number }).status === 2) return {};
    throw error;
  }
  const fields: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields[line.slice(0, eq)] = unescapeBlkid(line.slice(eq + 1));
  }
  return fields;
}

/** blkid -o export prints bytes ≥ 0x80 as "M-x" / "M-^x" (cat -v) and shell-escapes the rest. */
function unescapeBlkid(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text.startsWith('M-^', i)) {
      bytes.push(text[i + 3] === '?' ? 0xff : (text.charCodeAt(i + 3) ^ 0x40) | 0x80);
      i += 3;
    } else if (text.startsWith('M-', i)) {
      bytes.push(text.charCodeAt(i + 2) | 0x80);
      i += 2;
    } else if (text[i] === '\\') {
      bytes.push(text.charCodeAt(++i));
    } else bytes.push(text.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}
