/**
 * Special files (a FIFO, a character and a block device, a Unix socket) as ext4 (mke2fs -d),
 * XFS (mkfs.xfs -p; its protofile has no sockets) and Btrfs (mkfs.btrfs --rootdir) store them:
 * listed with their types as `fs ls` names them, device numbers as debugfs and xfs_db read them.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskimgBytes, withFs } from './fs-support.ts';

let scratch: string;
const images: Record<'ext4' | 'xfs' | 'btrfs', string> = { ext4: '', xfs: '', btrfs: '' };

function blank(file: string, bytes: number): string {
  writeFileSync(file, '');
  truncateSync(file, bytes);
  return file;
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'diskimg-fs-special-'));
  const tree = join(scratch, 'tree');
  mkdirSync(tree);
  writeFileSync(join(tree, 'file'), 'a regular file\n');
  execFileSync('mkfifo', [join(tree, 'fifo')]);
  execFileSync('mknod', [join(tree, 'char'), 'c', '1', '3']);
  execFileSync('mknod', [join(tree, 'blk'), 'b', '7', '0']);
  execFileSync('python3', ['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', join(tree, 'sock')]);
  images.ext4 = blank(join(scratch, 'ext4.img'), 16 << 20);
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, images.ext4], { stdio: 'ignore' });
  images.btrfs = blank(join(scratch, 'btrfs.img'), 128 << 20);
  execFileSync('mkfs.btrfs', ['-q', '-f', '--rootdir', tree, images.btrfs], { stdio: 'ignore' });
  const proto = join(scratch, 'xfs.proto');
  writeFileSync(
    proto,
    [
      '/dev/null',
      '0 0',
      'd--755 0 0',
      'fifo p--644 0 0',
      'char c--644 0 0 1 3',
      'blk b--660 0 0 7 0',
      `file ---644 0 0 ${join(tree, 'file')}`,
      '$',
      '',
    ].join('\n'),
  );
  images.xfs = blank(join(scratch, 'xfs.img'), 320 << 20);
  execFileSync('mkfs.xfs', ['-q', '-p', proto, images.xfs], { stdio: 'ignore' });
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const typesOf = async (image: string) => {
  const run = await diskimgBytes('fs', 'ls', '--output=json', image, '/');
  return Object.fromEntries(
    (JSON.parse(run.stdout.toString()) as Array<{ path: string; type: string }>)
      .filter((e) => e.path !== '/lost+found')
      .map((e) => [e.path, e.type]),
  );
};

const devicesOf = (image: string) =>
  withFs(image, undefined, async (fs) =>
    Object.fromEntries((await fs.list(fs.root())).filter((e) => e.device).map((e) => [e.name, `${e.device!.major},${e.device!.minor}`])),
  );

describe('special files', () => {
  const all = { '/file': 'file', '/fifo': 'fifo', '/char': 'char', '/blk': 'block', '/sock': 'socket' };

  it('ext4: every type, and the device numbers debugfs reads', async () => {
    expect(await typesOf(images.ext4)).toEqual(all);
    for (const [name, numbers] of [
      ['char', '01:03'],
      ['blk', '07:00'],
    ])
      expect(
        execFileSync('debugfs', ['-R', `stat /${name}`, images.ext4], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
      ).toContain(`Device major/minor number: ${numbers}`);
    expect(await devicesOf(images.ext4)).toEqual({ char: '1,3', blk: '7,0' });
  });

  it('XFS: the types its protofile can make, and the device numbers xfs_db reads', async () => {
    const { '/sock': _sock, ...noSocket } = all;
    expect(await typesOf(images.xfs)).toEqual(noSocket);
    const dev = (name: string) =>
      /u3\.dev = (0x[0-9a-f]+)/.exec(
        execFileSync('xfs_db', ['-r', '-c', `path /${name}`, '-c', 'print u3.dev', images.xfs], { encoding: 'utf8' }),
      )![1];
    // XFS keeps major << 18 | minor.
    expect([dev('char'), dev('blk')]).toEqual(['0x40003', '0x1c0000']);
    expect(await devicesOf(images.xfs)).toEqual({ char: '1,3', blk: '7,0' });
  });

  it('Btrfs: every type (mkfs.btrfs 6.2 --rootdir stores rdev 0, as dump-tree shows, and so it is listed)', async () => {
    expect(await typesOf(images.btrfs)).toEqual(all);
    const rdevs = [
      ...execFileSync('btrfs', ['inspect-internal', 'dump-tree', '-t', 'fs', images.btrfs], { encoding: 'utf8' }).matchAll(
        / mode (2|6)0\d{3} .* rdev (\d+)/g,
      ),
    ].map((m) => m[2]);
    expect(rdevs).toEqual(['0', '0']);
    expect(await devicesOf(images.btrfs)).toEqual({ char: '0,0', blk: '0,0' });
  });
});
