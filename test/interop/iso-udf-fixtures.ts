/**
 * UDF fixtures made by the real tools at test time, in one cached folder: a UDF bridge disc
 * (genisoimage -udf, UDF 1.02 beside ISO 9660 + Rock Ridge + Joliet), the same disc with its ISO
 * 9660 descriptors wiped (UDF only, with files: mkudffs cannot add files without mounting, and
 * this machine cannot mount UDF), and empty file systems from mkudffs for every revision it writes
 * (1.01–2.01 on hard-disk media, 2.50 and 2.60 on BD-R with a virtual allocation table, 2.01
 * on CD-RW and DVD-RW with a sparable partition) and for
 * block sizes 512, 2048 and 4096; and a pycdlib disc with UDF symlinks.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { cachedFixtures } from '../support/fixture-cache.ts';

export const UDF_VIETNAMESE = 'Tiếng Việt – ổ đĩa ảo.txt';

export interface UdfFixtures {
  dir: string;
  source: string;
  bridge: string;
  udfOnly: string;
  /** mkudffs images by UDF revision. */
  empty: Record<string, string>;
  /** mkudffs images (UDF 2.01) by block size. */
  blockSizes: Record<number, string>;
  /** mkudffs on rewritable media (a sparable partition with its sparing tables), by media type. */
  sparable: Record<string, string>;
  /** pycdlib (Debian's python3-pycdlib): UDF symlinks with parent, current and root components. */
  pycdlib: string;
}

/** What the pycdlib disc holds: UDF path → symlink target, or file bytes. */
export const PYCDLIB_LINKS: Record<string, string> = { '/rel': 'dir1/sub/hello.txt', '/up': '../dir1/./sub', '/abs': '/usr/share/doc' };
export const PYCDLIB_FILES: Record<string, string> = {
  '/dir1/sub/hello.txt': 'hello from pycdlib\n',
  [`/${UDF_VIETNAMESE}`]: 'xin chào\n',
};

const PYCDLIB_SCRIPT = `
import io, sys, json, pycdlib
links, files = json.loads(sys.argv[2]), json.loads(sys.argv[3])
iso = pycdlib.PyCdlib()
iso.new(udf='2.60', interchange_level=3, vol_ident='PYCDLIB_UDF')
iso.add_directory('/DIR1', udf_path='/dir1')
iso.add_directory('/DIR1/SUB', udf_path='/dir1/sub')
for n, (path, text) in enumerate(files.items()):
    data = text.encode()
    iso.add_fp(io.BytesIO(data), len(data), '/F%d.TXT;1' % n, udf_path=path)
for path, target in links.items():
    iso.add_symlink(udf_symlink_path=path, udf_target=target)
iso.write(sys.argv[1])
iso.close()
`;

export const MKUDFFS_REVISIONS: Record<string, string[]> = {
  '1.01': ['-m', 'hd'],
  '1.02': ['-m', 'hd'],
  '1.50': ['-m', 'hd'],
  '2.00': ['-m', 'hd'],
  '2.01': ['-m', 'hd'],
  '2.50': ['-m', 'bdr'],
  '2.60': ['-m', 'bdr'],
};

function tree(root: string): void {
  mkdirSync(join(root, 'a/b/c'), { recursive: true });
  writeFileSync(join(root, 'a/b/c/deep.txt'), 'deep inside\n');
  writeFileSync(join(root, UDF_VIETNAMESE), 'xin chào, thế giới\n');
  writeFileSync(join(root, 'empty'), '');
  symlinkSync('a/b', join(root, 'link'));
  const big = Buffer.alloc(3_000_001);
  for (let i = 0; i < big.length; i++) big[i] = (i * 13 + (i >> 11)) & 0xff;
  writeFileSync(join(root, 'big.bin'), big);
  // 300 identifiers: a directory over several blocks.
  mkdirSync(join(root, 'many'));
  for (let i = 0; i < 300; i++) writeFileSync(join(root, `many/file-${String(i).padStart(3, '0')}.txt`), `${i}\n`);
}

/** Zeros the ISO 9660 descriptors (sector 16 up to the terminator) of a copy: UDF is all that is left. */
function wipeIso9660(from: string, to: string): void {
  const data = readFileSync(from);
  let sector = 16;
  while (data.toString('latin1', sector * 2048 + 1, sector * 2048 + 6) === 'CD001') sector++;
  data.fill(0, 16 * 2048, sector * 2048);
  writeFileSync(to, data);
}

let cached: UdfFixtures | undefined;

/** The UDF discs, made once per version of this file (see cachedFixtures). */
export function udfFixtures(): UdfFixtures {
  return (cached ??= cachedFixtures('diskimg-iso-udf-fixtures', import.meta.url, build));
}

function build(dir: string): UdfFixtures {
  const at = (name: string) => join(dir, name);
  const paths: UdfFixtures = {
    dir,
    source: join(dir, 'tree'),
    bridge: join(dir, 'bridge.iso'),
    udfOnly: join(dir, 'udf-only.img'),
    empty: Object.fromEntries(Object.keys(MKUDFFS_REVISIONS).map((r) => [r, join(dir, `mkudffs-${r}.img`)])),
    blockSizes: Object.fromEntries([512, 2048, 4096].map((b) => [b, join(dir, `mkudffs-b${b}.img`)])),
    pycdlib: join(dir, 'pycdlib.iso'),
    sparable: Object.fromEntries(['cdrw', 'dvdrw'].map((m) => [m, join(dir, `mkudffs-${m}.img`)])),
  };
  tree(at('tree'));
  execFileSync('genisoimage', ['-quiet', '-udf', '-R', '-J', '-joliet-long', '-V', 'UDF_BRIDGE', '-o', at('bridge.iso'), at('tree')], {
    stdio: 'ignore',
  });
  wipeIso9660(at('bridge.iso'), at('udf-only.img'));
  for (const [revision, media] of Object.entries(MKUDFFS_REVISIONS)) {
    execFileSync('mkudffs', [...media, '-r', revision, `--label=UDF ${revision}`, at(`mkudffs-${revision}.img`), '4096'], {
      stdio: 'ignore',
    });
  }
  for (const size of [512, 2048, 4096]) {
    execFileSync('mkudffs', ['-m', 'hd', '-b', String(size), `--label=B${size}`, at(`mkudffs-b${size}.img`), String((4 << 20) / size)], {
      stdio: 'ignore',
    });
  }
  for (const media of ['cdrw', 'dvdrw'])
    execFileSync('mkudffs', ['-m', media, `--label=SPARABLE ${media}`, at(`mkudffs-${media}.img`), '8192'], { stdio: 'ignore' });
  // Debian's python3 (pycdlib is a Debian package, not in other Pythons on the PATH).
  execFileSync(
    '/usr/bin/python3',
    ['-c', PYCDLIB_SCRIPT, at('pycdlib.iso'), JSON.stringify(PYCDLIB_LINKS), JSON.stringify(PYCDLIB_FILES)],
    { stdio: 'ignore' },
  );
  return paths;
}

export function patchFile(file: string, offset: number, bytes: number[] | Uint8Array): void {
  const fd = openSync(file, 'r+');
  writeSync(fd, Uint8Array.from(bytes), 0, bytes.length, offset);
  closeSync(fd);
}
