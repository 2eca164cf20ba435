/**
 * diskimg resize changes an image in place exactly as qemu-img resize does: each case runs both
 * on copies of the same image, and the two files must be byte-identical (QEMU's result is
 * deterministic: the same first-fit placement of a grown L1 table), `qemu-img check` clean and
 * `qemu-img compare` identical; bad arguments get qemu-img's words and exit code.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskimg, firstDifference, qemuImg, qemuImgOk } from './support.ts';

let dir: string;
let serial = 0;
const file = (name: string) => join(dir, name);
const qemuIo = (path: string, ...commands: string[]) =>
  execFileSync('qemu-io', ['-f', 'qcow2', ...commands.flatMap((c) => ['-c', c]), path], { stdio: 'ignore' });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskimg-resize-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A qcow2 made by qemu-img with `options`, then written by qemu-io. */
function qcow2(options: string, size: string, ...writes: string[]): string {
  const path = file(`source-${serial++}.qcow2`);
  qemuImgOk('create', '-q', '-f', 'qcow2', ...(options ? ['-o', options] : []), path, size);
  if (writes.length) qemuIo(path, ...writes);
  return path;
}

/** Runs `resize args… FILE SIZE` on two copies of `source`; returns the two paths. */
async function resizeBoth(source: string, args: string[], size: string, format?: string): Promise<{ theirs: string; ours: string }> {
  const theirs = file(`theirs-${serial}.img`);
  const ours = file(`ours-${serial++}.img`);
  copyFileSync(source, theirs);
  copyFileSync(source, ours);
  const formatArgs = format ? ['-f', format] : [];
  const expected = qemuImg('resize', ...formatArgs, ...args, theirs, size);
  const run = await diskimg('resize', ...formatArgs, ...args, ours, size);
  expect({ code: run.code, stdout: run.stdout, stderr: run.stderr.replaceAll(ours, 'FILE') }).toEqual({
    code: expected.code,
    stdout: expected.stdout,
    stderr: expected.stderr.replaceAll('qemu-img:', 'diskimg:').replaceAll(theirs, 'FILE'),
  });
  return { theirs, ours };
}

/** Both results: the same bytes, a clean check, the same disk. */
function expectSameImage({ theirs, ours }: { theirs: string; ours: string }, format = 'qcow2'): void {
  expect(firstDifference(ours, theirs)).toBeNull();
  if (format === 'qcow2') expect(qemuImg('check', ours).code).toBe(0);
  expect(qemuImg('compare', '-f', format, '-F', format, ours, theirs).code).toBe(0);
}

describe('resize qcow2: grow', () => {
  const cases: [string, string, string, string[]][] = [
    ['within the L1 table', '', '1G', ['+100M']],
    ['with a new, longer L1 table', '', '1G', ['+1G']],
    ['far: 1 TiB, then 4 TiB', '', '1G', ['1T', '4T']],
    ['twice, reusing the first table’s freed cluster', '', '1G', ['+1G', '10G']],
    ['compat=0.10', 'compat=0.10', '1G', ['+3G']],
    ['extended_l2', 'extended_l2=on', '1G', ['+7G']],
    ['refcount_bits=1', 'refcount_bits=1', '1G', ['+9G']],
    ['refcount_bits=64', 'refcount_bits=64', '1G', ['+9G']],
    ['4 KiB clusters', 'cluster_size=4k', '100M', ['+2G']],
    ['512-byte clusters: new refcount blocks made as QEMU makes them', 'cluster_size=512', '64M', ['128M', '1G', '3G', '20G']],
  ];
  for (const [name, options, size, steps] of cases) {
    it(name, async () => {
      const source = qcow2(options, size, 'write -P 1 0 64k', 'write -P 2 50M 64k');
      let current = source;
      for (const step of steps) {
        const pair = await resizeBoth(current, [], step);
        expectSameImage(pair);
        current = pair.ours;
      }
    });
  }

  it('an empty (0-byte) image', async () => {
    expectSameImage(await resizeBoth(qcow2('', '0'), [], '1M'));
  });

  it('with an internal snapshot and a backing file', async () => {
    const base = qcow2('', '1G', 'write -P 3 0 1M');
    const overlay = file('overlay.qcow2');
    qemuImgOk('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay, '1G');
    qemuIo(overlay, 'write -P 4 512k 64k');
    qemuImgOk('snapshot', '-c', 'first', overlay);
    expectSameImage(await resizeBoth(overlay, [], '+2G'));
  });

  it('a LUKS-encrypted image (diskimg needs no passphrase: no data is read or written)', async () => {
    const path = file('luks.qcow2');
    qemuImgOk(
      'create',
      '-q',
      '-f',
      'qcow2',
      '--object',
      'secret,id=s,data=pass',
      '-o',
      'encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=10',
      path,
      '1G',
    );
    const theirs = file('luks-theirs.qcow2');
    const ours = file('luks-ours.qcow2');
    copyFileSync(path, theirs);
    copyFileSync(path, ours);
    qemuImgOk(
      'resize',
      '-q',
      '--object',
      'secret,id=s,data=pass',
      '--image-opts',
      `driver=qcow2,file.filename=${theirs},encrypt.key-secret=s`,
      '+1G',
    );
    expect((await diskimg('resize', ours, '+1G')).code).toBe(0);
    expect(firstDifference(ours, theirs)).toBeNull();
  });
});

describe('resize qcow2: shrink', () => {
  it('discards the data past the new end, as qemu-img does (same bytes: freed clusters read as zeros)', async () => {
    const source = qcow2('', '3G', 'write -P 1 0 64k', 'write -P 2 1G 128k', 'write -P 3 2500M 64k', 'write -P 4 100M 64k');
    expectSameImage(await resizeBoth(source, ['--shrink'], String(1024 ** 3 + 65536)));
  });

  it('frees L2 tables past the new L1 end, compressed clusters, and cuts the file', async () => {
    const plain = qcow2('', '2G', 'write -P 1 0 1M', 'write -P 2 1500M 2M', 'write -z 1800M 64k');
    const compressed = file('compressed.qcow2');
    qemuImgOk('convert', '-q', '-c', '-O', 'qcow2', plain, compressed);
    expectSameImage(await resizeBoth(plain, ['--shrink'], '600M'));
    expectSameImage(await resizeBoth(compressed, ['--shrink'], '600M'));
  });

  it('drops refcount blocks that count nothing any more (512-byte clusters)', async () => {
    const source = qcow2('cluster_size=512', '8M', 'write -P 1 0 8M');
    const pair = await resizeBoth(source, ['--shrink'], '1M');
    expectSameImage(pair);
    expect(statSync(pair.ours).size).toBeLessThan(statSync(source).size);
  });

  it('extended L2 and 1-bit refcounts', async () => {
    expectSameImage(await resizeBoth(qcow2('extended_l2=on', '1G', 'write -P 1 0 4k', 'write -P 2 700M 8k'), ['--shrink'], '512M'));
    expectSameImage(await resizeBoth(qcow2('refcount_bits=1', '1G', 'write -P 1 0 4k', 'write -P 2 700M 8k'), ['--shrink'], '512M'));
  });

  it('refuses without --shrink, with qemu-img’s error and warning, and changes nothing', async () => {
    const source = qcow2('', '1G', 'write -P 1 0 64k');
    const pair = await resizeBoth(source, [], '512M');
    expect(firstDifference(pair.ours, source)).toBeNull();
  });
});

describe('resize raw', () => {
  it('grows and shrinks (with --shrink), with and without -f', async () => {
    const source = file('disk.raw');
    qemuImgOk('create', '-q', '-f', 'raw', source, '1M');
    execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 7 0 1M', source], { stdio: 'ignore' });
    expectSameImage(await resizeBoth(source, [], '+1M', 'raw'), 'raw');
    expectSameImage(await resizeBoth(source, [], '3M'), 'raw');
    const shrunk = await resizeBoth(source, ['--shrink'], '-512k', 'raw');
    expect(statSync(shrunk.ours).size).toBe(512 * 1024);
    expectSameImage(shrunk, 'raw');
    for (const mode of ['full', 'falloc']) {
      const pair = await resizeBoth(source, [`--preallocation=${mode}`], '+3M', 'raw');
      expectSameImage(pair, 'raw');
      // Allocated, as qemu-img leaves it: every block of the grown part on disk.
      expect(statSync(pair.ours).blocks * 512).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    }
  });
});

describe('resize: bad arguments', () => {
  const cases: [string, string[], string][] = [
    ['a size below zero', ['--shrink'], '-2G'],
    ['a size of 0', ['--shrink'], '0'],
    ['8 EiB', [], '8E'],
    ['not a size', [], 'abc'],
    ['not a multiple of 512', [], '+1025'],
    ['an L1 table past 32 MiB', [], '3000P'],
    ['a bad preallocation mode', ['--preallocation=bogus'], '+1G'],
    ['preallocation while shrinking', ['--shrink', '--preallocation=full'], '-1M'],
    ['the wrong format', ['-f', 'raw', '--preallocation=metadata'], '+1M'],
  ];
  for (const [name, args, size] of cases) {
    it(name, async () => {
      const source = qcow2('', '1G', 'write -P 1 0 64k');
      const pair = await resizeBoth(source, args, size);
      expect(firstDifference(pair.ours, pair.theirs)).toBeNull();
    });
  }

  it('too few arguments, too many, a missing file, a format that is not resized', async () => {
    for (const args of [['FILE'], ['FILE', 'FILE', '1G']]) {
      const ours = await diskimg('resize', ...args);
      const theirs = qemuImg('resize', ...args);
      expect(ours).toEqual({ code: theirs.code, stdout: theirs.stdout, stderr: theirs.stderr.replaceAll('qemu-img', 'diskimg') });
    }
    const missing = file('missing.qcow2');
    expect((await diskimg('resize', missing, '1G')).stderr).toBe(qemuImg('resize', missing, '1G').stderr.replace('qemu-img:', 'diskimg:'));
    const vmdk = file('disk.vmdk');
    qemuImgOk('create', '-q', '-f', 'vmdk', vmdk, '1M');
    const refused = await diskimg('resize', vmdk, '2M');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('diskimg: diskimg resizes qcow2 and raw images, not vmdk\n');
  });

  it('a corrupt image: qemu-img’s error; bitmaps, a dirty image, a data file, preallocation: refused', async () => {
    const patchByte = (path: string, offset: number, value: number) => {
      const bytes = readFileSync(path);
      bytes[offset] = value;
      writeFileSync(path, bytes);
    };
    const corrupt = qcow2('', '16M', 'write -P 1 0 64k');
    patchByte(corrupt, 79, 2);
    expect(await diskimg('resize', corrupt, '+1M')).toEqual({
      ...qemuImg('resize', corrupt, '+1M'),
      stderr: qemuImg('resize', corrupt, '+1M').stderr.replace('qemu-img:', 'diskimg:'),
    });
    const bitmaps = qcow2('', '16M');
    qemuImgOk('bitmap', '--add', bitmaps, 'b0');
    const dirty = qcow2('', '16M');
    patchByte(dirty, 79, 1);
    const dataFile = file('data-file.qcow2');
    qemuImgOk('create', '-q', '-f', 'qcow2', '-o', `data_file=${file('data-file.data')}`, dataFile, '16M');
    const refusals: [string, string[], string][] = [
      [bitmaps, [], 'Resizing an image with persistent bitmaps is not supported by diskimg yet (their data must be resized too)'],
      [dirty, [], 'The image is marked dirty (its refcounts are not up to date): repair it with qemu-img check -r all first'],
      [dataFile, [], 'Resizing an image with an external data file is not supported by diskimg yet'],
    ];
    for (const [path, args, message] of refusals) {
      const before = readFileSync(path);
      expect(await diskimg('resize', ...args, path, '+1M')).toEqual({
        code: 1,
        stdout: '',
        stderr: `diskimg: Could not resize the image: ${message}\n`,
      });
      expect(readFileSync(path).equals(before)).toBe(true);
    }
    expect(await diskimg('resize', '--preallocation=full', dirty, '+1M')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'diskimg: --preallocation=full is not supported by diskimg for qcow2 (only off)\n',
    });
  });

  it('says what it does not do yet, before writing anything', async () => {
    const snapshotted = qcow2('', '1G', 'write -P 1 900M 64k');
    qemuImgOk('snapshot', '-c', 'keep', snapshotted);
    const before = file('before.qcow2');
    copyFileSync(snapshotted, before);
    const run = await diskimg('resize', '--shrink', snapshotted, '512M');
    expect(run).toMatchObject({
      code: 1,
      stderr: 'diskimg: Could not resize the image: Shrinking an image with internal snapshots is not supported by diskimg yet\n',
    });
    expect(firstDifference(snapshotted, before)).toBeNull();
    // 512-byte clusters: an L1 table of 25 MB reaches past what a one-cluster reftable counts.
    const small = qcow2('cluster_size=512', '64M', 'write -P 1 0 1M');
    const copy = file('small-before.qcow2');
    copyFileSync(small, copy);
    const grown = await diskimg('resize', small, '100G');
    expect(grown).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'diskimg: Could not resize the image: The new L1 table could lie past what the refcount table can reach: growing the refcount table is not supported by diskimg yet\n',
    });
    expect(firstDifference(small, copy)).toBeNull();
  });
});

describe('resize: a process killed mid-way', () => {
  /**
   * DISKIMG_KILL_AFTER_WRITES=N makes the CLI kill itself (SIGKILL) as its Nth write to the image
   * begins: every write boundary is a crash point, tried in turn until the resize completes.
   */
  async function killedAt(source: string, args: string[], size: string, stride = 1): Promise<number> {
    const bin = join(process.cwd(), 'src/cli/bin.ts');
    for (let writes = 1; ; writes += stride) {
      const target = file(`killed-${serial++}.qcow2`);
      copyFileSync(source, target);
      const child = spawn(process.execPath, ['--import', 'tsx', bin, 'resize', ...args, target, size], {
        stdio: 'ignore',
        env: { ...process.env, DISKIMG_KILL_AFTER_WRITES: String(writes) },
      });
      const signal = await new Promise((resolve) => child.once('exit', (_code, killed) => resolve(killed)));
      const check = qemuImg('check', target);
      // 0: clean; 3: leaked clusters only, which `check -r leaks` repairs.
      expect([0, 3], `killed at write ${writes}: ${check.stdout}`).toContain(check.code);
      if (check.code === 3) {
        qemuImgOk('check', '-q', '-r', 'leaks', target);
        expect(qemuImg('check', target).code).toBe(0);
      }
      if (signal !== 'SIGKILL') return writes - 1;
    }
  }

  it('growing: every crash point leaves an image qemu-img check finds clean or repairs', async () => {
    const source = qcow2('', '3G', 'write -P 1 0 64k', 'write -P 2 1G 128k');
    expect(await killedAt(source, [], '+5T')).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it('shrinking: the same, at every other write', async () => {
    const source = qcow2('', '3G', 'write -P 1 0 64k', 'write -P 2 1G 128k', 'write -P 3 2500M 64k');
    expect(await killedAt(source, ['--shrink'], '1G', 2)).toBeGreaterThanOrEqual(3);
  }, 120_000);
});
