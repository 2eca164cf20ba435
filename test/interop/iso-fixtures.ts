/** ISO fixtures made by the real tools (xorriso, genisoimage) at test time, in one cached folder. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedFixtures } from '../support/fixture-cache.ts';

export const DEBIAN_ISOS = ['/usr/lib/grub-rescue/grub-rescue-cdrom.iso', '/usr/lib/ipxe/ipxe.iso'];
export const VIETNAMESE = 'Tiếng Việt – ổ đĩa ảo.txt';
export const LONG_NAME = `${'a-very-long-name-'.repeat(14)}end.txt`;

function tree(root: string): void {
  mkdirSync(join(root, 'a/b/c/d/e/f/g/h/i/j/k'), { recursive: true });
  writeFileSync(join(root, 'a/b/c/d/e/f/g/h/i/j/k/deep.txt'), 'deep inside\n');
  writeFileSync(join(root, VIETNAMESE), 'xin chào, thế giới\n');
  writeFileSync(join(root, LONG_NAME), 'long\n');
  symlinkSync('a/b/c', join(root, 'link-relative'));
  symlinkSync('/usr/share/doc', join(root, 'link-absolute'));
  writeFileSync(join(root, 'empty'), '');
  mkdirSync(join(root, 'boot'));
  writeFileSync(join(root, 'boot/bios.bin'), Buffer.alloc(2048, 0x90));
  execFileSync('mkfs.vfat', ['-C', join(root, 'boot/efi.img'), '1440'], { stdio: 'ignore' });
  const big = Buffer.alloc(3 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 12)) & 0xff;
  writeFileSync(join(root, 'big.bin'), big);
}

const xorriso = (...args: string[]) => execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', ...args], { stdio: 'ignore' });

export interface IsoFixtures {
  dir: string;
  source: string;
  /** Rock Ridge + Joliet, El Torito BIOS + UEFI, an appended EFI partition in the MBR. */
  rich: string;
  /** GPT in the system area with the appended EFI partition. */
  gpt: string;
  /** Joliet only (genisoimage -J). */
  joliet: string;
  /** Plain ISO 9660 level 1 names (genisoimage without -R or -J). */
  plain: string;
  empty: string;
  many: string;
}

let cached: IsoFixtures | undefined;

/** The discs, made once per version of this file (see cachedFixtures). */
export function isoFixtures(): IsoFixtures {
  return (cached ??= cachedFixtures('diskimg-iso-fixtures', import.meta.url, build));
}

function build(dir: string): IsoFixtures {
  const at = (name: string) => join(dir, name);
  const paths = {
    dir,
    source: join(dir, 'tree'),
    rich: join(dir, 'rich.iso'),
    gpt: join(dir, 'gpt.iso'),
    joliet: join(dir, 'joliet.iso'),
    plain: join(dir, 'plain.iso'),
    empty: join(dir, 'empty.iso'),
    many: join(dir, 'many.iso'),
  };
  tree(at('tree'));
  const efi = at('tree/boot/efi.img');
  xorriso(
    '-R',
    '-J',
    '-V',
    'RICH_DISC',
    '-publisher',
    'diskimg tests',
    '-A',
    'diskimg',
    '-b',
    'boot/bios.bin',
    '-no-emul-boot',
    '-boot-load-size',
    '4',
    '-eltorito-alt-boot',
    '-e',
    'boot/efi.img',
    '-no-emul-boot',
    '-append_partition',
    '2',
    '0xef',
    efi,
    '-o',
    at('rich.iso'),
    at('tree'),
  );
  xorriso('-R', '-J', '-V', 'GPT_DISC', '-append_partition', '2', '0xef', efi, '-appended_part_as_gpt', '-o', at('gpt.iso'), at('tree'));
  execFileSync('genisoimage', ['-quiet', '-J', '-joliet-long', '-V', 'JOLIET_ONLY', '-o', at('joliet.iso'), at('tree')], {
    stdio: 'ignore',
  });
  execFileSync('genisoimage', ['-quiet', '-V', 'PLAIN', '-o', at('plain.iso'), at('tree')], { stdio: 'ignore' });
  mkdirSync(at('nothing'));
  xorriso('-R', '-V', 'EMPTY', '-o', at('empty.iso'), at('nothing'));
  mkdirSync(at('many'));
  for (let d = 0; d < 50; d++) {
    mkdirSync(at(`many/dir-${d}`));
    for (let f = 0; f < 100; f++) writeFileSync(at(`many/dir-${d}/file-${f}.txt`), `${d}/${f}\n`);
  }
  xorriso('-R', '-J', '-V', 'MANY', '-o', at('many.iso'), at('many'));
  rmSync(at('many'), { recursive: true, force: true });
  return paths;
}
