/**
 * NTFS with what Windows makes and ntfs-3g only reads by default: reparse points (a relative and
 * an absolute symbolic link, a junction) and a file with nine hard links and thirty alternate
 * data streams, more than one MFT record holds (so ntfs-3g gives it an attribute list and
 * extension records). Made by mkntfs and an ntfs-3g mount: the links are `ln`, the streams
 * xattrs (streams_interface=xattr), and the reparse points the REPARSE_DATA_BUFFERs Microsoft
 * documents ([MS-FSCC] 2.1.2.4 and 2.1.2.5), set through ntfs-3g's system.ntfs_reparse_data,
 * which checks them and writes the attribute and the $Reparse index entry. Null where FUSE
 * mounts are not allowed. Built once, keyed by this file.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedFixtures } from '../support/fixture-cache.ts';
import { junctionReparse, setxattr, symlinkReparse } from '../support/ntfs-reparse.ts';
import { MiB } from './fs-fixtures.ts';

export const LINK_NAMES = Array.from({ length: 8 }, (_, i) => `link-${i + 1}-${'n'.repeat(200)}`);
export const STREAM_NAMES = Array.from({ length: 30 }, (_, i) => `stream-${i + 1}`);
/** Where each reparse point leads, as its print name says (what Windows' dir shows). */
export const REPARSE_TARGETS = {
  'relative-link': 'target-dir\\f.txt',
  'absolute-link': 'C:\\target-dir\\f.txt',
  junction: 'C:\\target-dir',
};

export interface NtfsLinks {
  image: string;
  /** The bytes linked.bin holds (its nine names are it and LINK_NAMES). */
  linked: string;
}

export function ntfsLinks(): NtfsLinks | { unavailable: string } {
  return cachedFixtures('diskimg-fs-ntfs-links', import.meta.url, (dir) => {
    const image = join(dir, 'ntfs.img');
    writeFileSync(image, '');
    truncateSync(image, 16 * MiB);
    execFileSync('mkntfs', ['-q', '-F', '-f', '-L', 'links', image], { stdio: 'ignore' });
    const linked = join(dir, 'linked.bin');
    const bytes = Buffer.alloc(300_000);
    for (let i = 0, x = 99; i < bytes.length; i++) bytes[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    writeFileSync(linked, bytes);
    const mount = join(dir, 'mount');
    mkdirSync(mount);
    const mounted = spawnSync('ntfs-3g', ['-o', 'streams_interface=xattr', image, mount], { encoding: 'utf8' });
    if (mounted.status !== 0) return { unavailable: `ntfs-3g could not mount (a FUSE mount is needed): ${mounted.stderr.trim()}` };
    try {
      mkdirSync(join(mount, 'target-dir'));
      writeFileSync(join(mount, 'target-dir', 'f.txt'), 'reached through a link\n');
      writeFileSync(join(mount, 'relative-link'), '');
      setxattr(
        join(mount, 'relative-link'),
        'system.ntfs_reparse_data',
        symlinkReparse('target-dir\\f.txt', REPARSE_TARGETS['relative-link'], true),
      );
      writeFileSync(join(mount, 'absolute-link'), '');
      setxattr(
        join(mount, 'absolute-link'),
        'system.ntfs_reparse_data',
        symlinkReparse('\\??\\C:\\target-dir\\f.txt', REPARSE_TARGETS['absolute-link'], false),
      );
      mkdirSync(join(mount, 'junction'));
      setxattr(join(mount, 'junction'), 'system.ntfs_reparse_data', junctionReparse('\\??\\C:\\target-dir', REPARSE_TARGETS.junction));
      execFileSync('cp', [linked, join(mount, 'linked.bin')]);
      for (const name of LINK_NAMES) execFileSync('ln', [join(mount, 'linked.bin'), join(mount, name)]);
      for (const [i, name] of STREAM_NAMES.entries())
        setxattr(join(mount, 'linked.bin'), `user.${name}`, Buffer.alloc(40 + i, 0x61 + (i % 26)));
    } finally {
      execFileSync('umount', [mount]);
    }
    return { image, linked };
  });
}
