/**
 * diskimg snapshot -c / -a / -d change a qcow2 in place as qemu-img snapshot does: the same steps
 * run by both on copies of one image leave files equal byte for byte but for the snapshots'
 * creation times, `qemu-img check` clean, the same snapshot list, and the same disk.
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

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskimg-snapshot-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function qcow2(options: string, size: string, ...writes: string[]): string {
  const path = file(`source-${serial++}.qcow2`);
  qemuImgOk('create', '-q', '-f', 'qcow2', ...(options ? ['-o', options] : []), path, size);
  if (writes.length) qemuIo(path, ...writes);
  return path;
}

/** A copy of the file with every snapshot's date (date_sec, date_nsec) zeroed. */
function withoutDates(path: string): string {
  const bytes = readFileSync(path);
  const count = bytes.readUInt32BE(60);
  let at = Number(bytes.readBigUInt64BE(64));
  for (let i = 0; i < count; i++) {
    at = Math.ceil(at / 8) * 8;
    bytes.fill(0, at + 16, at + 24);
    at += 40 + bytes.readUInt32BE(at + 36) + bytes.readUInt16BE(at + 12) + bytes.readUInt16BE(at + 14);
  }
  const out = `${path}.nodates`;
  writeFileSync(out, bytes);
  return out;
}

const snapshotsOf = (path: string) =>
  (JSON.parse(qemuImgOk('info', '--output=json', path)).snapshots ?? []).map(
    ({ 'date-sec': _s, 'date-nsec': _n, ...rest }: Record<string, unknown>) => rest,
  );

type Step = string[] | ((path: string) => void);

/** Runs the steps (snapshot arguments, or a function writing the image) on two copies. */
async function both(source: string, steps: Step[]): Promise<void> {
  const theirs = file(`theirs-${serial}.qcow2`);
  const ours = file(`ours-${serial++}.qcow2`);
  copyFileSync(source, theirs);
  copyFileSync(source, ours);
  for (const step of steps) {
    if (typeof step === 'function') {
      step(theirs);
      step(ours);
      continue;
    }
    const expected = qemuImg('snapshot', ...step, theirs);
    const run = await diskimg('snapshot', ...step, ours);
    expect({ code: run.code, stdout: run.stdout, stderr: run.stderr.replaceAll(ours, 'FILE') }).toEqual({
      code: expected.code,
      stdout: expected.stdout,
      stderr: expected.stderr
        .replaceAll('qemu-img:', 'diskimg:')
        .replaceAll("'qemu-img --help'", "'diskimg --help'")
        .replaceAll(theirs, 'FILE'),
    });
    expect(firstDifference(withoutDates(ours), withoutDates(theirs)), `after snapshot ${step.join(' ')}`).toBeNull();
    expect(qemuImg('check', ours).code).toBe(0);
    expect(snapshotsOf(ours)).toEqual(snapshotsOf(theirs));
    expect(qemuImg('compare', ours, theirs).code).toBe(0);
  }
}

const write =
  (...commands: string[]) =>
  (path: string) =>
    qemuIo(path, ...commands);

describe('snapshot -c, -a, -d: the same file as qemu-img’s', () => {
  const images: [string, string, string[]][] = [
    ['data, zero clusters', '', ['write -P 1 0 128k', 'write -z 1M 64k', 'write -P 2 10M 64k']],
    ['compat=0.10', 'compat=0.10', ['write -P 1 0 128k', 'write -P 2 10M 64k']],
    ['extended L2', 'extended_l2=on', ['write -P 1 4k 8k', 'write -P 2 10M 64k']],
    ['4 KiB clusters', 'cluster_size=4k', ['write -P 1 0 1M', 'write -P 2 30M 12k']],
    ['an empty image', '', []],
  ];
  for (const [name, options, writes] of images) {
    it(name, async () => {
      const source = qcow2(options, '64M', ...writes);
      await both(source, [
        ['-c', 'first'],
        write('write -P 3 0 64k', 'write -P 4 20M 64k'),
        ['-c', 'second'],
        ['-a', 'first'],
        write('write -P 5 64k 64k'),
        ['-d', 'second'],
        ['-c', 'third'],
        ['-a', '3'],
        ['-d', 'first'],
        ['-d', 'third'],
        ['-l'],
      ]);
    });
  }

  it('2-bit refcounts, up to their limit (3)', async () => {
    await both(qcow2('refcount_bits=2', '64M', 'write -P 1 0 128k'), [
      ['-c', 'first'],
      write('write -P 2 64k 64k'),
      ['-c', 'second'],
      ['-d', 'first'],
      ['-c', 'third'],
    ]);
  });

  it('compressed clusters (shared host clusters), and a duplicate name', async () => {
    const plain = qcow2('', '64M', 'write -P 1 0 1M', 'write -P 2 40M 64k');
    const compressed = file('compressed.qcow2');
    qemuImgOk('convert', '-q', '-c', '-O', 'qcow2', plain, compressed);
    await both(compressed, [['-c', 'x'], ['-c', 'x'], write('write -P 6 0 64k'), ['-a', 'x'], ['-d', 'x'], ['-d', 'x'], ['-c', '']]);
  });
});

describe('snapshot: errors', () => {
  it('full 1-bit refcounts: qemu-img’s error, and the image left as it was', async () => {
    const source = qcow2('refcount_bits=1', '16M', 'write -P 1 0 128k');
    const ours = file('full-ours.qcow2');
    copyFileSync(source, ours);
    const run = await diskimg('snapshot', '-c', 'first', ours);
    expect(run).toEqual({ code: 1, stdout: '', stderr: "diskimg: Could not create snapshot 'first': -22 (Invalid argument)\n" });
    copyFileSync(source, file('full-qemu.qcow2'));
    expect(qemuImg('snapshot', '-c', 'first', file('full-qemu.qcow2')).stderr).toBe(
      "qemu-img: Could not create snapshot 'first': -22 (Invalid argument)\n",
    );
    expect(firstDifference(ours, source)).toBeNull();
    // Applying a snapshot whose clusters have no room for one more reference.
    const two = qcow2('refcount_bits=2', '16M', 'write -P 1 0 64k');
    qemuImgOk('snapshot', '-c', 'a', two);
    qemuImgOk('snapshot', '-c', 'b', two);
    const before = file('two-before.qcow2');
    copyFileSync(two, before);
    expect(await diskimg('snapshot', '-a', 'a', two)).toEqual({
      code: 1,
      stdout: '',
      stderr: "diskimg: Could not apply snapshot 'a': Failed to load snapshot: Invalid argument\n",
    });
    expect(qemuImg('snapshot', '-a', 'a', before).stderr).toBe(
      "qemu-img: Could not apply snapshot 'a': Failed to load snapshot: Invalid argument\n",
    );
    expect(qemuImg('check', two).code).toBe(0);
  });

  it('a missing snapshot, a raw image, mixed actions', async () => {
    const source = qcow2('', '16M', 'write -P 1 0 64k');
    await both(source, [
      ['-d', 'nope'],
      ['-a', 'nope'],
      ['-c', 'one', '-d', 'one'],
      ['-l', '-c', 'two'],
    ]);
    const raw = file('disk.raw');
    qemuImgOk('create', '-q', '-f', 'raw', raw, '1M');
    for (const args of [
      ['-c', 'a'],
      ['-d', 'a'],
      ['-a', 'a'],
    ]) {
      const ours = await diskimg('snapshot', ...args, raw);
      const theirs = qemuImg('snapshot', ...args, raw);
      expect(ours).toEqual({ code: theirs.code, stdout: theirs.stdout, stderr: theirs.stderr.replaceAll('qemu-img:', 'diskimg:') });
    }
  });
});

describe('snapshot: images it refuses, untouched', () => {
  const patchByte = (path: string, offset: number, value: number) => {
    const bytes = readFileSync(path);
    bytes[offset] = value;
    writeFileSync(path, bytes);
  };

  it('a corrupt image and an external data file: qemu-img’s errors', async () => {
    const corrupt = qcow2('', '16M', 'write -P 1 0 64k');
    patchByte(corrupt, 79, 2); // incompatible_features: corrupt
    const dataFile = file('with-data.qcow2');
    qemuImgOk('create', '-q', '-f', 'qcow2', '-o', `data_file=${file('with-data.data')}`, dataFile, '16M');
    for (const path of [corrupt, dataFile]) {
      const before = readFileSync(path);
      const ours = await diskimg('snapshot', '-c', 'a', path);
      expect(ours).toEqual({
        ...qemuImg('snapshot', '-c', 'a', path),
        stderr: qemuImg('snapshot', '-c', 'a', path).stderr.replace('qemu-img:', 'diskimg:'),
      });
      expect(readFileSync(path).equals(before)).toBe(true);
    }
  });

  it('a dirty image, and a snapshot of another size (qemu-img repairs or resizes: diskimg says so)', async () => {
    const dirty = qcow2('', '16M', 'write -P 1 0 64k');
    patchByte(dirty, 79, 1); // incompatible_features: dirty
    expect(await diskimg('snapshot', '-c', 'a', dirty)).toEqual({
      code: 1,
      stdout: '',
      stderr:
        "diskimg: Could not create snapshot 'a': The image is marked dirty (its refcounts are not up to date): repair it with qemu-img check -r all first\n",
    });
    const resized = qcow2('', '16M', 'write -P 1 0 64k');
    qemuImgOk('snapshot', '-c', 'small', resized);
    qemuImgOk('resize', '-q', resized, '+16M');
    const before = readFileSync(resized);
    expect(await diskimg('snapshot', '-a', 'small', resized)).toEqual({
      code: 1,
      stdout: '',
      stderr:
        "diskimg: Could not apply snapshot 'small': Snapshot 'small' has another virtual size (16777216 bytes) than the image: applying it is not supported by diskimg yet\n",
    });
    expect(readFileSync(resized).equals(before)).toBe(true);
  });
});

describe('snapshot: a process killed mid-way', () => {
  /** DISKIMG_KILL_AFTER_WRITES=N kills the CLI as its Nth write begins (see resize.test.ts). */
  async function killedAt(source: string, args: string[], stride: number): Promise<number> {
    const bin = join(process.cwd(), 'src/cli/bin.ts');
    for (let writes = 1; ; writes += stride) {
      const target = file(`killed-${serial++}.qcow2`);
      copyFileSync(source, target);
      const child = spawn(process.execPath, ['--import', 'tsx', bin, 'snapshot', ...args, target], {
        stdio: 'ignore',
        env: { ...process.env, DISKIMG_KILL_AFTER_WRITES: String(writes) },
      });
      const signal = await new Promise((resolve) => child.once('exit', (_code, killed) => resolve(killed)));
      const check = qemuImg('check', target);
      // Clean, leaks (3), or COPIED flags and leaks that -r all repairs (2): never lost data.
      if (check.code !== 0) {
        expect([2, 3], `killed at write ${writes}: ${check.stdout}${check.stderr}`).toContain(check.code);
        qemuImgOk('check', '-q', '-r', 'all', target);
        expect(qemuImg('check', target).code).toBe(0);
      }
      expect(qemuImg('compare', target, source).code, `killed at write ${writes}: the disk changed`).toBe(0);
      if (signal !== 'SIGKILL') return writes;
    }
  }

  it('creating and deleting: the disk stays whole and check repairs what is left', async () => {
    const source = qcow2('', '64M', 'write -P 1 0 128k', 'write -P 2 10M 64k');
    expect(await killedAt(source, ['-c', 'crash'], 3)).toBeGreaterThan(3);
    const withSnapshot = file('with-snapshot.qcow2');
    copyFileSync(source, withSnapshot);
    qemuImgOk('snapshot', '-c', 'old', withSnapshot);
    qemuIo(withSnapshot, 'write -P 3 0 64k');
    expect(await killedAt(withSnapshot, ['-d', 'old'], 3)).toBeGreaterThan(3);
  }, 180_000);
});
