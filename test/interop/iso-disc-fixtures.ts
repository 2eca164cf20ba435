/**
 * Discs for zisofs, Rock Ridge special files, long symlinks, UTF-8 labels and damaged catalogs,
 * made by the real tools (xorriso, genisoimage, mkzftree) at test time, in one cached folder.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { cachedFixtures } from '../support/fixture-cache.ts';

export const LABEL = 'ĐĨA_CÀI_ĐẶT';
export const PUBLISHER = 'Công ty Đĩa';
export const PREPARER = 'Người soạn';
export const LINKS = {
  long200: `${'x'.repeat(100)}/${'y'.repeat(100)}`,
  long335: Array.from({ length: 8 }, (_, i) => `${'d'.repeat(40)}${i}`).join('/'),
  /** One component longer than an SL entry holds: split over two, the first flagged CONTINUE. */
  comp255: 'c'.repeat(255),
  abs300: `/${Array.from({ length: 5 }, (_, i) => `${'e'.repeat(58)}${i}`).join('/')}`,
};
/** The huge zisofs2 file: zeros but its last bytes. */
export const HUGE_SIZE = 4_500_000_000;
export const HUGE_TAIL = 'the end of a 4.5 GB file\n';
const HUGE_BLOCK = 1 << 20;

export interface DiscFixtures {
  dir: string;
  zsource: string;
  /** zisofs v1 (xorriso -zisofs, 32 KiB blocks); v2 as "ZF PZ"; v2 as "Z2"; mkzftree + genisoimage -z. */
  zv1: string;
  zv2: string;
  z2: string;
  mkz: string;
  /** A 4.5 GB zisofs2 file stored in ~34 KiB (xorriso's own layout for zeros: every block empty but the last). */
  huge: string;
  /** Devices, a FIFO, a socket and long symlinks, by xorriso -R and genisoimage -R. */
  devx: string;
  devg: string;
  /** Labels and ids in UTF-8 (genisoimage -input-charset utf-8), without and with Joliet. */
  label: string;
  labelJoliet: string;
  /** xorriso -R -J with BIOS and UEFI El Torito entries, a few files in a folder. */
  boot: string;
}

let cached: DiscFixtures | undefined;

export function discFixtures(): DiscFixtures {
  return (cached ??= cachedFixtures('diskimg-disc-fixtures', import.meta.url, build));
}

const run = (tool: string, ...args: string[]) => execFileSync(tool, args, { stdio: 'ignore' });

/**
 * A zisofs2 stream as xorriso writes one for a file of zeros (measured: a 4.5 GB sparse file
 * took xorriso 49 s to compress, into this same header and pointer table), with text in the last
 * block so the end of the file is worth reading. xorriso -zisofs by_magic=v2 takes it as is.
 */
function hugeStream(): Buffer {
  const blocks = Math.ceil(HUGE_SIZE / HUGE_BLOCK);
  const lastLength = HUGE_SIZE - (blocks - 1) * HUGE_BLOCK;
  const last = Buffer.alloc(lastLength);
  last.write(HUGE_TAIL, lastLength - HUGE_TAIL.length);
  const compressed = deflateSync(last);
  const header = Buffer.alloc(24);
  Buffer.from([0xef, 0x22, 0x55, 0xa1, 0xbc, 0x1b, 0x95, 0xa0, 0, 6, 1, 20]).copy(header);
  header.writeBigUInt64LE(BigInt(HUGE_SIZE), 12);
  const pointers = Buffer.alloc(8 * (blocks + 1));
  const data = 24 + pointers.length;
  for (let i = 0; i < blocks; i++) pointers.writeBigUInt64LE(BigInt(data), 8 * i);
  pointers.writeBigUInt64LE(BigInt(data + compressed.length), 8 * blocks);
  return Buffer.concat([header, pointers, compressed]);
}

function build(dir: string): DiscFixtures {
  const at = (name: string) => join(dir, name);
  const z = at('zsource');
  mkdirSync(join(z, 'sub'), { recursive: true });
  writeFileSync(join(z, 'text.txt'), 'hello zisofs line\n'.repeat(16_667));
  let varied = '';
  for (let i = 0; varied.length < 1 << 20; i++) varied += `line ${i}: ${(i * 2654435761) % 1000003}\n`;
  writeFileSync(join(z, 'varied.txt'), varied);
  writeFileSync(join(z, 'random.bin'), Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7919 + (i >> 3) * 104729) & 0xff)));
  writeFileSync(join(z, 'tiny.txt'), 'tiny\n');
  writeFileSync(join(z, 'empty'), '');
  writeFileSync(join(z, 'sub/zeros.bin'), Buffer.alloc(200_000));
  const zisofs = (out: string, settings: string) =>
    run('xorriso', '-outdev', out, '-zisofs', settings, '-map', z, '/', '-set_filter_r', '--zisofs', '/', '--', '-commit');
  zisofs(at('zv1.iso'), 'level=6:block_size=32k');
  zisofs(at('zv2.iso'), 'level=6:version_2=on:block_size_v2=128k');
  zisofs(at('z2.iso'), 'version_2=on:susp_z2=on');
  run('mkzftree', z, at('mkz-tree'));
  run('genisoimage', '-quiet', '-R', '-z', '-o', at('mkz.iso'), at('mkz-tree'));
  mkdirSync(at('huge-tree'));
  writeFileSync(at('huge-tree/huge.bin'), hugeStream());
  writeFileSync(at('huge-tree/small.txt'), 'small\n');
  run('xorriso', '-outdev', at('huge.iso'), '-zisofs', 'by_magic=v2', '-map', at('huge-tree'), '/', '--', '-commit');

  const d = at('dev-tree');
  mkdirSync(d);
  run('mknod', join(d, 'disk'), 'b', '8', '1');
  run('mknod', join(d, 'null'), 'c', '1', '3');
  run('mknod', join(d, 'nvme'), 'b', '259', '70000');
  run('mkfifo', join(d, 'fifo'));
  // Bound by a relative name: a socket's path is limited to 107 bytes.
  execFileSync('python3', ['-c', 'import socket; socket.socket(socket.AF_UNIX).bind("socket")'], { cwd: d });
  writeFileSync(join(d, 'plain.txt'), 'plain\n');
  for (const [name, target] of Object.entries(LINKS)) symlinkSync(target, join(d, name));
  run('xorriso', '-as', 'mkisofs', '-quiet', '-R', '-o', at('devx.iso'), d);
  run('genisoimage', '-quiet', '-R', '-o', at('devg.iso'), d);

  run(
    'genisoimage',
    '-quiet',
    '-input-charset',
    'utf-8',
    '-V',
    LABEL,
    '-publisher',
    PUBLISHER,
    '-p',
    PREPARER,
    '-A',
    'Ứng dụng',
    '-sysid',
    'HỆ',
    '-R',
    '-o',
    at('label.iso'),
    join(z, 'sub'),
  );
  run(
    'genisoimage',
    '-quiet',
    '-input-charset',
    'utf-8',
    '-V',
    LABEL,
    '-publisher',
    PUBLISHER,
    '-R',
    '-J',
    '-o',
    at('label-joliet.iso'),
    join(z, 'sub'),
  );

  const b = at('boot-tree');
  mkdirSync(join(b, 'boot'), { recursive: true });
  mkdirSync(join(b, 'docs'));
  writeFileSync(join(b, 'boot/bios.bin'), Buffer.alloc(2048, 0x90));
  run('mkfs.vfat', '-C', join(b, 'boot/efi.img'), '1440');
  for (let i = 0; i < 30; i++) writeFileSync(join(b, `docs/note-${i}.txt`), `note ${i}\n`);
  run(
    'xorriso',
    '-as',
    'mkisofs',
    '-quiet',
    '-R',
    '-J',
    '-V',
    'BOOT_DISC',
    '-b',
    'boot/bios.bin',
    '-no-emul-boot',
    '-boot-load-size',
    '4',
    '-eltorito-alt-boot',
    '-e',
    'boot/efi.img',
    '-no-emul-boot',
    '-o',
    at('boot.iso'),
    b,
  );

  return {
    dir,
    zsource: z,
    zv1: at('zv1.iso'),
    zv2: at('zv2.iso'),
    z2: at('z2.iso'),
    mkz: at('mkz.iso'),
    huge: at('huge.iso'),
    devx: at('devx.iso'),
    devg: at('devg.iso'),
    label: at('label.iso'),
    labelJoliet: at('label-joliet.iso'),
    boot: at('boot.iso'),
  };
}
