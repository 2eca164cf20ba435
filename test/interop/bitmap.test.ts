/**
 * diskimg bitmap against qemu-img bitmap on copies of the same images: the files byte-identical
 * (QEMU's bitmap store is deterministic: first-fit clusters, data before its table), `qemu-img
 * check` clean, the same messages and exit codes; bitmaps holding dirty bits (written by qemu-io
 * while a bitmap was enabled) are carried over, cleared and merged; a process killed at every
 * write leaves an image qemu-img opens, with the disk unchanged.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskimg, firstDifference, qemuImg, qemuImgOk } from './support.ts';

let dir: string;
let serial = 0;
const file = (name: string) => join(dir, name);
const qemuIo = (path: string, ...commands: string[]) =>
  execFileSync('qemu-io', ['-f', 'qcow2', ...commands.flatMap((c) => ['-c', c]), path], { stdio: 'ignore' });
/** QEMU names the node in some messages by a counter of its own (#block123). */
const node = (text: string) => text.replace(/#block\d+/g, '#blockN');

let plain: string;
let oneBitmap: string;
let dirty: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskimg-bitmap-'));
  plain = file('plain.qcow2');
  qemuImgOk('create', '-q', '-f', 'qcow2', plain, '10M');
  qemuIo(plain, 'write -P 1 0 1M');
  oneBitmap = file('one.qcow2');
  copyFileSync(plain, oneBitmap);
  qemuImgOk('bitmap', '--add', oneBitmap, 'b0');
  // Three bitmaps with dirty bits: qemu-io's writes are tracked by the enabled ones.
  dirty = file('dirty.qcow2');
  copyFileSync(oneBitmap, dirty);
  qemuImgOk('bitmap', '--add', '-g', '128k', dirty, 'second');
  qemuIo(dirty, 'write -P 2 3M 200k', 'write 9M 4k');
  qemuImgOk('bitmap', '--add', dirty, 'third');
  qemuIo(dirty, 'write 5M 4k');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `bitmap args… FILE NAME` by both tools on copies of `source`; the same output, then the two files. */
async function bitmapBoth(source: string, args: string[], name: string): Promise<{ theirs: string; ours: string }> {
  const theirs = file(`theirs-${serial}.qcow2`);
  const ours = file(`ours-${serial++}.qcow2`);
  copyFileSync(source, theirs);
  copyFileSync(source, ours);
  const expected = qemuImg('bitmap', ...args, theirs, name);
  const run = await diskimg('bitmap', ...args, ours, name);
  expect({ code: run.code, stdout: run.stdout, stderr: node(run.stderr.replaceAll(ours, 'FILE')) }).toEqual({
    code: expected.code,
    stdout: expected.stdout,
    stderr: node(expected.stderr.replaceAll('qemu-img:', 'diskimg:').replaceAll(theirs, 'FILE')),
  });
  return { theirs, ours };
}

function expectSame({ theirs, ours }: { theirs: string; ours: string }): void {
  expect(firstDifference(ours, theirs)).toBeNull();
  expect(qemuImg('check', ours).code).toBe(0);
}

describe('bitmap: byte-identical to qemu-img bitmap', () => {
  const cases: Array<[string, () => string, string[], string]> = [
    ['--add to an image without bitmaps', () => plain, ['--add'], 'b0'],
    ['--add -g 128k --disable beside another', () => oneBitmap, ['--add', '-g', '128k', '--disable'], 'second'],
    ['--add -g 512 (a bitmap of many clusters)', () => plain, ['--add', '-g', '512'], 'fine'],
    ['--remove the only bitmap (the extension goes)', () => oneBitmap, ['--remove'], 'b0'],
    ['--remove one of three', () => dirty, ['--remove'], 'second'],
    ['--clear a bitmap with dirty bits', () => dirty, ['--clear'], 'b0'],
    ['--disable', () => dirty, ['--disable'], 'third'],
    ['--enable --disable --enable, in order', () => dirty, ['--enable', '--disable', '--enable'], 'third'],
    ['--merge one into another', () => dirty, ['--merge', 'third'], 'b0'],
    ['--merge, then --disable', () => dirty, ['--merge', 'b0', '--disable'], 'third'],
    ['--remove then --add again', () => dirty, ['--remove', '--add', '-g', '512'], 'b0'],
    ['--add beside dirty bitmaps (all of them stored anew)', () => dirty, ['--add', '-g', '1M'], 'new'],
    ['--add --disable --enable: added, then enabled', () => oneBitmap, ['--add', '--disable', '--enable'], 'd2'],
  ];
  for (const [name, source, args, bitmap] of cases) {
    it(name, async () => {
      const pair = await bitmapBoth(source(), args, bitmap);
      expectSame(pair);
      // actual-size aside: QEMU punches holes where it frees bitmap data, diskimg writes zeros there.
      const info = (path: string) =>
        qemuImg('info', '--output=json', path)
          .stdout.replaceAll(path, 'F')
          .replace(/"actual-size": \d+/, '');
      expect(info(pair.ours)).toBe(info(pair.theirs));
    });
  }
  it('--merge across granularities (64k ← 128k, 128k ← 64k, 512 ← 64k, 2M ← 512, 512 ← 2M)', async () => {
    const mixed = file('mixed.qcow2');
    copyFileSync(dirty, mixed);
    qemuImgOk('bitmap', '--add', '-g', '512', mixed, 'fine');
    qemuImgOk('bitmap', '--add', '-g', '2M', mixed, 'coarse');
    qemuIo(mixed, 'write 1000k 3k', 'write 7M 100k');
    for (const [target, source] of [
      ['b0', 'second'],
      ['second', 'b0'],
      ['fine', 'b0'],
      ['coarse', 'fine'],
      ['fine', 'coarse'],
    ])
      expectSame(await bitmapBoth(mixed, ['--merge', source], target));
  });
  it('--merge from another image (-b, -F)', async () => {
    const pair = await bitmapBoth(dirty, ['--merge', 'b0', '-b', oneBitmap, '-F', 'qcow2'], 'b0');
    expectSame(pair);
  });
  it('our result read by qemu-img: bitmaps listed, image clean, and usable by the next qemu-img bitmap', async () => {
    const { ours } = await bitmapBoth(dirty, ['--add', '-g', '64k'], 'fourth');
    expect(qemuImg('info', ours).stdout).toContain('name: fourth');
    qemuImgOk('bitmap', '--remove', ours, 'second');
    expect(qemuImg('check', ours).code).toBe(0);
    // convert carries the guest data; check counts the bitmap clusters as used.
    const converted = file(`converted-${serial++}.qcow2`);
    expect((await diskimg('convert', '-O', 'qcow2', ours, converted)).code).toBe(0);
    expect(qemuImg('compare', ours, converted).code).toBe(0);
    expect((await diskimg('check', ours)).code).toBe(0);
  });
});

describe('bitmap: qemu-img’s refusals', () => {
  const cases: Array<[string, () => string, string[], string]> = [
    ['an existing name', () => oneBitmap, ['--add'], 'b0'],
    ['a missing bitmap: --remove', () => oneBitmap, ['--remove'], 'nope'],
    ['a missing bitmap: --clear', () => oneBitmap, ['--clear'], 'nope'],
    ['a missing bitmap: --enable', () => oneBitmap, ['--enable'], 'nope'],
    ['a missing merge source', () => oneBitmap, ['--merge', 'nope'], 'b0'],
    ['granularity not a power of two', () => oneBitmap, ['--add', '-g', '100'], 'x'],
    ['granularity under 512', () => oneBitmap, ['--add', '-g', '256'], 'x'],
    ['granularity past 32 bits', () => oneBitmap, ['--add', '-g', '4G'], 'x'],
    ['granularity not a size', () => oneBitmap, ['--add', '-g', '1x'], 'x'],
    ['granularity without --add', () => oneBitmap, ['-g', '64k', '--remove'], 'b0'],
    ['no action', () => oneBitmap, [], 'b0'],
    ['-F without -b', () => oneBitmap, ['--add', '-F', 'qcow2'], 'x'],
    ['-b without --merge', () => oneBitmap, ['--add', '-b', 'x.qcow2'], 'x'],
    ['an empty name', () => oneBitmap, ['--add'], ''],
    ['a name of 1024 bytes', () => oneBitmap, ['--add'], 'n'.repeat(1024)],
  ];
  for (const [name, source, args, bitmap] of cases) {
    it(name, async () => {
      const pair = await bitmapBoth(source(), args, bitmap);
      expectSame(pair);
    });
  }
  it('a v2 image cannot hold bitmaps', async () => {
    const v2 = file('v2.qcow2');
    qemuImgOk('create', '-q', '-f', 'qcow2', '-o', 'compat=0.10', v2, '10M');
    expectSame(await bitmapBoth(v2, ['--add'], 'x'));
  });
  it('a raw image cannot hold bitmaps', async () => {
    const raw = file('r.raw');
    qemuImgOk('create', '-q', '-f', 'raw', raw, '1M');
    const expected = qemuImg('bitmap', '--add', '-f', 'raw', raw, 'x');
    const run = await diskimg('bitmap', '--add', '-f', 'raw', raw, 'x');
    expect({ code: run.code, stderr: node(run.stderr) }).toEqual({
      code: expected.code,
      stderr: node(expected.stderr.replace('qemu-img:', 'diskimg:')),
    });
  });
  it('a missing filename or bitmap name', async () => {
    expect(await diskimg('bitmap', '--add', oneBitmap)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'diskimg: Expecting filename and bitmap name\n',
    });
  });
});

describe('bitmap: a process killed mid-way', () => {
  /** DISKIMG_KILL_AFTER_WRITES=N kills the CLI as its Nth write begins (see resize.test.ts). */
  async function killedAt(source: string, args: string[], name: string, stride = 3): Promise<number> {
    const bin = join(process.cwd(), 'src/cli/bin.ts');
    for (let writes = 1; ; writes += stride) {
      const target = file(`killed-${serial++}.qcow2`);
      copyFileSync(source, target);
      const child = spawn(process.execPath, ['--import', 'tsx', bin, 'bitmap', ...args, target, name], {
        stdio: 'ignore',
        env: { ...process.env, DISKIMG_KILL_AFTER_WRITES: String(writes) },
      });
      const signal = await new Promise((resolve) => child.once('exit', (_code, killed) => resolve(killed)));
      // Clean, or leaked clusters only (3), which -r leaks reclaims; the image always opens.
      const check = qemuImg('check', target);
      if (check.code !== 0) {
        expect(check.code, `killed at write ${writes}: ${check.stdout}${check.stderr}`).toBe(3);
        qemuImgOk('check', '-q', '-r', 'leaks', target);
        expect(qemuImg('check', target).code).toBe(0);
      }
      expect(qemuImg('info', target).code).toBe(0);
      expect(qemuImg('compare', target, source).code, `killed at write ${writes}: the disk changed`).toBe(0);
      if (signal !== 'SIGKILL') return writes;
    }
  }

  it('--add beside dirty bitmaps', async () => {
    expect(await killedAt(dirty, ['--add'], 'crash')).toBeGreaterThan(5);
  }, 180_000);
  it('--remove', async () => {
    expect(await killedAt(dirty, ['--remove'], 'second')).toBeGreaterThan(5);
  }, 180_000);
});

describe('bitmap: a damaged bitmap directory', () => {
  /** The directory's first entry, patched at `offset` within it. */
  function damaged(offset: number, bytes: number[]): string {
    const path = file(`damaged-${serial++}.qcow2`);
    copyFileSync(oneBitmap, path);
    const image = readFileSync(path);
    // The bitmaps extension follows the header; its directory offset is its last field.
    let at = image.readUInt32BE(100);
    while (image.readUInt32BE(at) !== 0x23852875) at += 8 + ((image.readUInt32BE(at + 4) + 7) & ~7);
    const directory = Number(image.readBigUInt64BE(at + 8 + 16));
    image.set(bytes, directory + offset);
    writeFileSync(path, image);
    return path;
  }
  const cases: Array<[string, number, number[], RegExp]> = [
    ['an unknown bitmap type', 16, [2], /Bitmap 'b0' doesn't satisfy the constraints \(type 2, /],
    ['a granularity past 2^31', 17, [40], /granularity 2\^40/],
    ['a table of the wrong size', 8, [0, 0, 0, 9], /with 9 entries where 1 are expected/],
    ['extra data', 20, [0, 0, 0, 8], /Broken bitmap directory: entry 0 has 8 bytes of extra data/],
  ];
  for (const [name, offset, bytes, message] of cases) {
    it(`${name}: refused before any write`, async () => {
      const path = damaged(offset, bytes);
      const before = readFileSync(path);
      const run = await diskimg('bitmap', '--add', path, 'x');
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toContain(`Could not open '${path}'`);
      expect(readFileSync(path).equals(before)).toBe(true);
      // qemu-img refuses it too.
      expect(qemuImg('bitmap', '--add', path, 'x').code).toBe(1);
    });
  }
});
