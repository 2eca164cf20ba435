/**
 * diskimg amend against qemu-img amend on copies of the same images: byte-identical files
 * (QEMU's amend is deterministic: header rewrites, zero clusters expanded in place), `qemu-img
 * check` clean, the same messages and exit codes; what diskimg refuses it refuses before any
 * write; a process killed at every write leaves an image with the same disk.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskimg, firstDifference, qemuImg, qemuImgOk } from './support.ts';

let dir: string;
let serial = 0;
const file = (name: string) => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskimg-amend-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A qcow2 made by qemu-img with `options`, then written by qemu-io. */
function qcow2(options: string, ...writes: string[]): string {
  const path = file(`source-${serial++}.qcow2`);
  qemuImgOk('create', '-q', '-f', 'qcow2', ...(options ? ['-o', options] : []), path, '10M');
  if (writes.length) execFileSync('qemu-io', ['-f', 'qcow2', ...writes.flatMap((c) => ['-c', c]), path], { stdio: 'ignore' });
  return path;
}

async function amendBoth(source: string, args: string[]): Promise<{ theirs: string; ours: string }> {
  const theirs = file(`theirs-${serial}.qcow2`);
  const ours = file(`ours-${serial++}.qcow2`);
  copyFileSync(source, theirs);
  copyFileSync(source, ours);
  const expected = qemuImg('amend', ...args, theirs);
  const run = await diskimg('amend', ...args, ours);
  expect({ code: run.code, stdout: run.stdout, stderr: run.stderr.replaceAll(ours, 'FILE') }).toEqual({
    code: expected.code,
    stdout: expected.stdout,
    stderr: expected.stderr
      .replaceAll('qemu-img:', 'diskimg:')
      .replaceAll("'qemu-img --help'", "'diskimg --help'")
      .replaceAll(theirs, 'FILE'),
  });
  return { theirs, ours };
}

function expectSame({ theirs, ours }: { theirs: string; ours: string }): void {
  expect(firstDifference(ours, theirs)).toBeNull();
  expect(qemuImg('check', ours).code).toBe(0);
}

describe('amend: byte-identical to qemu-img amend', () => {
  const data = 'write -P 1 0 1M';
  const cases: Array<[string, string, string[], string[]]> = [
    ['downgrade to 0.10', '', [data], ['-o', 'compat=0.10']],
    ['downgrade, spelled v2', '', [data], ['-o', 'compat=v2']],
    ['upgrade to 1.1', 'compat=0.10', [data], ['-o', 'compat=1.1']],
    ['upgrade with lazy refcounts', 'compat=0.10', [data], ['-o', 'compat=v3,lazy_refcounts=on']],
    ['lazy refcounts on', '', [data], ['-o', 'lazy_refcounts=on']],
    ['lazy refcounts off', 'lazy_refcounts=on', ['write -P 1 0 64k'], ['-o', 'lazy_refcounts=off']],
    ['downgrade of a lazy-refcounts image', 'lazy_refcounts=on', ['write -P 1 0 64k'], ['-o', 'compat=0.10']],
    ['downgrade with lazy refcounts turned off first', 'lazy_refcounts=on', [], ['-o', 'compat=0.10,lazy_refcounts=off']],
    ['downgrade: plain zero clusters become unallocated', '', ['write -z 0 64k', 'write -P 3 1M 64k'], ['-o', 'compat=0.10']],
    ['downgrade: preallocated zero clusters zeroed', 'preallocation=metadata', ['write -P 2 0 2M', 'write -z 0 1M'], ['-o', 'compat=0.10']],
    ['downgrade of zstd without compressed clusters', 'compression_type=zstd', [data], ['-o', 'compat=0.10']],
    ['size, grown', '', [data], ['-o', 'size=20M']],
    ['size, shrunk, then the downgrade', '', [data], ['-o', 'size=5M,compat=0.10']],
    ['-p', '', [data], ['-p', '-o', 'compat=0.10']],
    ['several -o', '', [data], ['-o', 'compat=0.10', '-o', 'lazy_refcounts=off']],
    ['refcount_bits unchanged', '', [data], ['-o', 'refcount_bits=16']],
    ['refcount_bits=1', '', [data], ['-o', 'refcount_bits=1']],
    ['refcount_bits=8', '', [data], ['-o', 'refcount_bits=8']],
    ['refcount_bits=64', '', [data], ['-o', 'refcount_bits=64']],
    ['refcount_bits=2 with preallocated metadata', 'preallocation=metadata', ['write -z 0 1M'], ['-o', 'refcount_bits=2']],
    ['upgrade with refcount_bits=4', 'compat=0.10', [data], ['-o', 'compat=1.1,refcount_bits=4']],
    ['refcount_bits=8 down to 16 and a downgrade', 'refcount_bits=8', [data], ['-o', 'refcount_bits=16,compat=0.10']],
  ];
  for (const [name, options, writes, args] of cases) {
    it(name, async () => expectSame(await amendBoth(qcow2(options, ...writes), args)));
  }
});

describe('amend: qemu-img’s refusals', () => {
  const cases: Array<[string, string, string[]]> = [
    ['a create-only option', '', ['-o', 'cluster_size=4k']],
    ['extended_l2', '', ['-o', 'extended_l2=on']],
    ['an unknown option', '', ['-o', 'foo=1']],
    ['an unknown compat level', '', ['-o', 'compat=2']],
    ['lazy refcounts with compat=0.10', '', ['-o', 'compat=0.10,lazy_refcounts=on']],
    ['lazy refcounts on a v2 image', 'compat=0.10', ['-o', 'lazy_refcounts=on']],
    ['a bad boolean', '', ['-o', 'lazy_refcounts=maybe']],
    ['a bad number', '', ['-o', 'refcount_bits=x']],
    ['a refcount width not a power of two', '', ['-o', 'refcount_bits=3']],
    ['a refcount width in v2', 'compat=0.10', ['-o', 'refcount_bits=8']],
    ['a bad size', '', ['-o', 'size=abc']],
    ['the backing file', '', ['-o', 'backing_file=x']],
    ['a data file', '', ['-o', 'data_file=x']],
    ['data_file_raw', '', ['-o', 'data_file_raw=on']],
    ['encryption options on a plain image', '', ['-o', 'encrypt.keyslot=1']],
    ['downgrade with extended L2', 'extended_l2=on', ['-o', 'compat=0.10']],
    ['downgrade with 8-bit refcounts', 'refcount_bits=8', ['-o', 'compat=0.10']],
    ['no -o', '', []],
  ];
  for (const [name, options, args] of cases) {
    it(name, async () => {
      const source = qcow2(options, 'write -P 1 0 64k');
      expectSame(await amendBoth(source, args));
      expect(firstDifference(source, file(`ours-${serial - 1}.qcow2`))).toBeNull();
    });
  }
  it('refcount_bits too narrow for a shared cluster', async () => {
    const source = qcow2('', 'write -P 1 0 64k');
    qemuImgOk('snapshot', '-c', 's1', source);
    expectSame(await amendBoth(source, ['-o', 'refcount_bits=1']));
  });
  it('refcount_bits=64 with 512-byte clusters: many new refcount blocks, and new ones for the old structures on the way', async () => {
    const path = file(`small-clusters-${serial++}.qcow2`);
    qemuImgOk('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=512', path, '64M');
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 5 0 3M', '-c', 'write -P 6 40M 2M', path], { stdio: 'ignore' });
    expectSame(await amendBoth(path, ['-o', 'refcount_bits=64']));
    expectSame(await amendBoth(path, ['-o', 'refcount_bits=1']));
  });
  it('downgrade with zstd-compressed clusters', async () => {
    const raw = file('data.raw');
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', raw, '10M']);
    execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 7 0 1M', raw], { stdio: 'ignore' });
    const compressed = file('zstd.qcow2');
    qemuImgOk('convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd', raw, compressed);
    expectSame(await amendBoth(compressed, ['-o', 'compat=0.10']));
  });
  it('a raw image', async () => {
    const raw = file('r.raw');
    qemuImgOk('create', '-q', '-f', 'raw', raw, '1M');
    const expected = qemuImg('amend', '-o', 'compat=1.1', raw);
    const run = await diskimg('amend', '-o', 'compat=1.1', raw);
    expect(run).toEqual({ ...expected, stderr: expected.stderr.replace('qemu-img:', 'diskimg:') });
  });
  it('-o help lists what amend can change', async () => {
    const source = qcow2('');
    expect((await diskimg('amend', '-o', 'help', source)).stdout).toBe(qemuImg('amend', '-o', 'help', source).stdout);
  });
});

describe('amend: what diskimg refuses, before any write', () => {
  const cases: Array<[string, string, string[], string[], RegExp]> = [
    ['a downgrade with bitmaps', '', [], ['-o', 'compat=0.10'], /persistent bitmaps/],
    ['zero clusters with snapshots', '', ['write -z 0 64k'], ['-o', 'compat=0.10'], /snapshots/],
  ];
  for (const [name, options, writes, args, message] of cases) {
    it(name, async () => {
      const source = qcow2(options, 'write -P 1 0 64k', ...writes);
      if (name.includes('bitmaps')) qemuImgOk('bitmap', '--add', source, 'b0');
      if (name.includes('snapshots')) qemuImgOk('snapshot', '-c', 's1', source);
      const target = file(`refused-${serial++}.qcow2`);
      copyFileSync(source, target);
      const run = await diskimg('amend', ...args, target);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(message);
      expect(readFileSync(target).equals(readFileSync(source))).toBe(true);
    });
  }
});

describe('amend: a process killed mid-way', () => {
  /** DISKIMG_KILL_AFTER_WRITES=N kills the CLI as its Nth write begins (see resize.test.ts). */
  async function killedAt(source: string, args: string[], repair?: 'leaks'): Promise<number> {
    const bin = join(process.cwd(), 'src/cli/bin.ts');
    for (let writes = 1; ; writes++) {
      const target = file(`killed-${serial++}.qcow2`);
      copyFileSync(source, target);
      const child = spawn(process.execPath, ['--import', 'tsx', bin, 'amend', ...args, target], {
        stdio: 'ignore',
        env: { ...process.env, DISKIMG_KILL_AFTER_WRITES: String(writes) },
      });
      const signal = await new Promise((resolve) => child.once('exit', (_code, killed) => resolve(killed)));
      // Clean; or, where new structures were being made, leaked clusters only, which -r leaks reclaims.
      const check = qemuImg('check', target);
      if (repair && check.code === 3) {
        qemuImgOk('check', '-q', '-r', 'leaks', target);
        expect(qemuImg('check', target).code).toBe(0);
      } else expect(check.code, `killed at write ${writes}: ${check.stdout}`).toBe(0);
      expect(qemuImg('compare', target, source).code, `killed at write ${writes}: the disk changed`).toBe(0);
      if (signal !== 'SIGKILL') return writes;
    }
  }

  it('a downgrade expanding zero clusters', async () => {
    const source = qcow2('preallocation=metadata', 'write -P 2 0 2M', 'write -z 0 1M', 'write -z 5M 64k');
    expect(await killedAt(source, ['-o', 'compat=0.10'])).toBeGreaterThan(3);
  }, 120_000);
  it('a change of refcount_bits', async () => {
    const source = qcow2('', 'write -P 1 0 256k', 'write -P 2 5M 64k');
    expect(await killedAt(source, ['-o', 'refcount_bits=64'], 'leaks')).toBeGreaterThan(3);
  }, 180_000);
  it('an upgrade with lazy refcounts', async () => {
    expect(await killedAt(qcow2('compat=0.10', 'write -P 1 0 64k'), ['-o', 'compat=1.1,lazy_refcounts=on'])).toBeGreaterThan(1);
  }, 60_000);
});

describe('amend: LUKS key slots', () => {
  const SECRETS = ['--object', 'secret,id=s0,data=old', '--object', 'secret,id=s1,data=new'];
  const opts = (path: string, secret = 's0') => `driver=qcow2,file.filename=${path},encrypt.key-secret=${secret}`;
  let encrypted: string;
  beforeAll(() => {
    encrypted = file('luks.qcow2');
    qemuImgOk(
      'create',
      '-q',
      '-f',
      'qcow2',
      ...SECRETS,
      '-o',
      'encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10',
      encrypted,
      '4M',
    );
    execFileSync('qemu-io', [...SECRETS, '--image-opts', opts(encrypted), '-c', 'write -P 9 0 1M'], { stdio: 'ignore' });
  });

  /** Runs amend by both tools on copies; the same output, then our copy. */
  async function keySlotsBoth(source: string, args: string[], opens = true): Promise<string> {
    const theirs = file(`theirs-${serial}.qcow2`);
    const ours = file(`ours-${serial++}.qcow2`);
    copyFileSync(source, theirs);
    copyFileSync(source, ours);
    const expected = qemuImg('amend', ...SECRETS, ...args, '--image-opts', opts(theirs));
    const run = await diskimg('amend', ...SECRETS, ...args, '--image-opts', opts(ours));
    expect({ code: run.code, stdout: run.stdout, stderr: run.stderr }).toEqual({
      code: expected.code,
      stdout: expected.stdout,
      stderr: expected.stderr.replaceAll('qemu-img:', 'diskimg:'),
    });
    // Checked through whichever passphrase still opens it.
    const check = ['s0', 's1'].map((secret) => qemuImg('check', ...SECRETS, '--image-opts', opts(ours, secret)).code);
    if (opens) expect(check).toContain(0);
    return ours;
  }
  const opensWith = (path: string, secret: string) =>
    qemuImg('compare', ...SECRETS, '--image-opts', opts(path, secret), opts(encrypted)).code === 0;

  it('a passphrase added: qemu-img opens the image with it and with the old one', async () => {
    const ours = await keySlotsBoth(encrypted, ['-o', 'encrypt.state=active,encrypt.new-secret=s1,encrypt.iter-time=10']);
    expect(opensWith(ours, 's1')).toBe(true);
    expect(opensWith(ours, 's0')).toBe(true);
    expect(qemuImg('info', ours).stdout).toMatch(/\[1\]:\n\s+active: true/);
  });
  it('a passphrase removed by its slot, by the old secret, and the last one only with --force', async () => {
    const two = await keySlotsBoth(encrypted, ['-o', 'encrypt.state=active,encrypt.new-secret=s1,encrypt.keyslot=3,encrypt.iter-time=10']);
    const bySlot = await keySlotsBoth(two, ['-o', 'encrypt.state=inactive,encrypt.keyslot=0']);
    expect(opensWith(bySlot, 's1')).toBe(true);
    expect(opensWith(bySlot, 's0')).toBe(false);
    const bySecret = await keySlotsBoth(two, ['-o', 'encrypt.state=inactive,encrypt.old-secret=s1']);
    expect(opensWith(bySecret, 's0')).toBe(true);
    expect(opensWith(bySecret, 's1')).toBe(false);
    // No passphrase opens it any more: its data is gone, as qemu-img warns.
    const forced = await keySlotsBoth(encrypted, ['--force', '-o', 'encrypt.state=inactive,encrypt.keyslot=0'], false);
    expect(qemuImg('info', forced).stdout).toMatch(/\[0\]:\n\s+active: false/);
  });
  const refusals: Array<[string, string[]]> = [
    ['no state', ['-o', 'encrypt.new-secret=s1']],
    ['a bad state', ['-o', 'encrypt.state=foo']],
    ['activating without a new secret', ['-o', 'encrypt.state=active']],
    ['activating with an old secret', ['-o', 'encrypt.state=active,encrypt.new-secret=s1,encrypt.old-secret=s0']],
    ['overwriting an active slot', ['-o', 'encrypt.state=active,encrypt.new-secret=s1,encrypt.keyslot=0']],
    ['a slot out of range', ['-o', 'encrypt.state=active,encrypt.new-secret=s1,encrypt.keyslot=9']],
    ['an unknown secret', ['-o', 'encrypt.state=active,encrypt.new-secret=nosuch']],
    ['erasing the only active slot', ['-o', 'encrypt.state=inactive,encrypt.keyslot=0']],
    ['erasing an inactive slot', ['-o', 'encrypt.state=inactive,encrypt.keyslot=1']],
    ['erasing every slot by the old secret', ['-o', 'encrypt.state=inactive,encrypt.old-secret=s0']],
    ['erasing by a secret no slot holds', ['-o', 'encrypt.state=inactive,encrypt.old-secret=s1']],
    ['erasing without a slot or secret', ['-o', 'encrypt.state=inactive']],
    ['erasing with a new secret', ['-o', 'encrypt.state=inactive,encrypt.new-secret=s1']],
  ];
  for (const [name, args] of refusals) {
    it(name, async () => {
      const ours = await keySlotsBoth(encrypted, args);
      expect(firstDifference(ours, encrypted)).toBeNull();
    });
  }
});
