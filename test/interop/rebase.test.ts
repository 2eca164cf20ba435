/**
 * diskimg rebase moves a qcow2 overlay onto another backing file as qemu-img rebase does: each case
 * builds one chain with qemu-img and qemu-io, copies it into two folders, runs qemu-img rebase in
 * one and diskimg rebase in the other. QEMU's safe mode writes one request at a time, so the
 * overlays must be byte-identical; the disk read through the rebased overlay must not change.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskimg, firstDifference, qemuImg, qemuImgOk } from './support.ts';

let dir: string;
let serial = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskimg-rebase-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const qemuIo = (path: string, format: string, ...commands: string[]) =>
  execFileSync('qemu-io', ['-f', format, ...commands.flatMap((c) => ['-c', c]), path], { stdio: 'ignore' });

interface LayerSpec {
  name: string;
  /** qemu-img create's options (the size, when given, goes after the file name). */
  create: string[];
  size?: string;
  writes?: string[];
  format?: string;
}

function chain(layers: LayerSpec[]): string {
  const folder = join(dir, `chain-${serial++}`);
  mkdirSync(folder);
  for (const layer of layers) {
    const path = join(folder, layer.name);
    qemuImgOk('create', '-q', ...layer.create, path, ...(layer.size ? [layer.size] : []));
    if (layer.writes?.length) qemuIo(path, layer.format ?? 'qcow2', ...layer.writes);
  }
  return folder;
}

function copyFolder(from: string, to: string): void {
  mkdirSync(to);
  for (const name of readdirSync(from)) copyFileSync(join(from, name), join(to, name));
}

const qcow2 = (compat = '1.1') => ['-f', 'qcow2', '-o', `compat=${compat}`];
const over = (backing: string, format = 'qcow2', compat = '1.1') => [...qcow2(compat), '-b', backing, '-F', format];

/** Runs rebase ARGS… top.qcow2 in both copies: same output, exit code and overlay bytes. */
async function rebaseBoth(folder: string, args: string[]): Promise<{ theirs: string; ours: string }> {
  const theirs = `${folder}-theirs-${serial}`;
  const ours = `${folder}-ours-${serial++}`;
  copyFolder(folder, theirs);
  copyFolder(folder, ours);
  const expected = qemuImg('rebase', ...args, join(theirs, 'top.qcow2'));
  const run = await diskimg('rebase', ...args, join(ours, 'top.qcow2'));
  expect({ code: run.code, stdout: run.stdout, stderr: run.stderr.replaceAll(ours, 'DIR') }).toEqual({
    code: expected.code,
    stdout: expected.stdout,
    stderr: expected.stderr
      .replaceAll('qemu-img:', 'diskimg:')
      .replaceAll("'qemu-img --help'", "'diskimg --help'")
      .replaceAll(theirs, 'DIR'),
  });
  expect(firstDifference(join(ours, 'top.qcow2'), join(theirs, 'top.qcow2'))).toBeNull();
  return { theirs, ours };
}

/** The disk as the overlay read before the rebase, as a raw file. */
function diskBefore(folder: string): string {
  const out = join(dir, `disk-${serial++}.raw`);
  qemuImgOk('convert', '-O', 'raw', join(folder, 'top.qcow2'), out);
  return out;
}

const expectDisk = (folder: string, raw: string) => {
  expect(qemuImg('check', join(folder, 'top.qcow2')).code).toBe(0);
  expect(qemuImg('compare', '-F', 'raw', join(folder, 'top.qcow2'), raw).code).toBe(0);
};

const OVERLAY_WRITES = ['write -P 3 512k 128k', 'write -z 10M 64k', 'write -c -P 8 12M 64k'];

function threeLayers(compat = '1.1'): string {
  return chain([
    { name: 'base.qcow2', create: qcow2(compat), size: '64M', writes: ['write -P 1 0 4M', 'write -P 2 10M 1M'] },
    {
      name: 'mid.qcow2',
      create: over('base.qcow2', 'qcow2', compat),
      writes: ['write -P 5 1M 128k', 'write -P 6 5000k 3k', 'write -z 3M 64k'],
    },
    { name: 'top.qcow2', create: over('mid.qcow2', 'qcow2', compat), writes: OVERLAY_WRITES },
    { name: 'new.qcow2', create: qcow2(compat), size: '64M', writes: ['write -P 1 0 2M', 'write -P 7 20M 64k'] },
    { name: 'new.raw', create: ['-f', 'raw'], size: '64M', writes: ['write -P 1 0 1M'], format: 'raw' },
  ]);
}

describe('rebase: safe mode', () => {
  for (const compat of ['1.1', '0.10']) {
    const cases: [string, string[]][] = [
      ['onto the bottom of its chain (the middle layer copied in)', ['-b', 'base.qcow2', '-F', 'qcow2']],
      ['onto another qcow2', ['-b', 'new.qcow2', '-F', 'qcow2']],
      ['onto a raw file', ['-b', 'new.raw', '-F', 'raw']],
      ["onto nothing (-b ''): flattened", ['-b', '']],
      ['onto the same backing file', ['-b', 'mid.qcow2', '-F', 'qcow2']],
    ];
    for (const [title, args] of cases) {
      it(`compat=${compat}: ${title}`, async () => {
        const folder = threeLayers(compat);
        const before = diskBefore(folder);
        const { ours } = await rebaseBoth(folder, args);
        expectDisk(ours, before);
      });
    }
  }

  for (const option of ['refcount_bits=1', 'cluster_size=2M', 'cluster_size=4k', 'lazy_refcounts=on']) {
    it(`${option} in every image`, async () => {
      const options = ['-f', 'qcow2', '-o', option];
      const folder = chain([
        { name: 'base.qcow2', create: options, size: '64M', writes: ['write -P 1 0 5M'] },
        { name: 'top.qcow2', create: [...options, '-b', 'base.qcow2', '-F', 'qcow2'], writes: ['write -P 3 512k 128k', 'write -z 30M 2M'] },
        { name: 'new.qcow2', create: options, size: '64M', writes: ['write -P 1 0 1M', 'write -P 9 3M 3k'] },
      ]);
      const before = diskBefore(folder);
      const { ours } = await rebaseBoth(folder, ['-b', 'new.qcow2', '-F', 'qcow2']);
      expectDisk(ours, before);
    });
  }

  it('an overlay without a backing file rebased onto one', async () => {
    const folder = chain([
      { name: 'top.qcow2', create: qcow2(), size: '8M', writes: ['write -P 3 0 64k'] },
      { name: 'new.qcow2', create: qcow2(), size: '8M', writes: ['write -P 1 0 4M'] },
    ]);
    const before = diskBefore(folder);
    const { ours } = await rebaseBoth(folder, ['-b', 'new.qcow2', '-F', 'qcow2']);
    expectDisk(ours, before);
  });

  it('an overlay larger than its old backing file: past the old end, zeros (the zero flag on v3)', async () => {
    for (const compat of ['1.1', '0.10']) {
      const folder = chain([
        { name: 'base.qcow2', create: qcow2(compat), size: '4M', writes: ['write -P 1 0 4M'] },
        { name: 'top.qcow2', create: [...over('base.qcow2', 'qcow2', compat)], size: '16M', writes: ['write -P 3 512k 128k'] },
        { name: 'new.qcow2', create: qcow2(compat), size: '16M', writes: ['write -P 7 0 16M'] },
      ]);
      const before = diskBefore(folder);
      const { ours } = await rebaseBoth(folder, ['-b', 'new.qcow2', '-F', 'qcow2']);
      expectDisk(ours, before);
    }
  });

  it('a new backing file in the chain is read as the chain reads it, whatever -F says', async () => {
    await rebaseBoth(threeLayers(), ['-b', 'base.qcow2', '-F', 'vmdk']);
  });

  it('-p prints progress, -q nothing', async () => {
    const folder = threeLayers();
    await rebaseBoth(folder, ['-q', '-b', 'new.qcow2', '-F', 'qcow2']);
    const ours = `${folder}-progress`;
    copyFolder(folder, ours);
    const run = await diskimg('rebase', '-p', '-b', 'new.qcow2', '-F', 'qcow2', join(ours, 'top.qcow2'));
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^ {4}\(0\.00\/100%\)\r.*\(100\.00\/100%\)\r\n$/s);
  });
});

describe('rebase: unsafe mode (-u) rewrites the header only', () => {
  const cases: [string, string[]][] = [
    ['another name and format', ['-u', '-b', 'elsewhere.qcow2', '-F', 'qcow2']],
    ['a raw backing file', ['-u', '-b', 'new.raw', '-F', 'raw']],
    ['no backing file', ['-u', '-b', '']],
    ['a long name', ['-u', '-b', `${'d/'.repeat(200)}x.qcow2`, '-F', 'qcow2']],
  ];
  for (const compat of ['1.1', '0.10'])
    for (const [title, args] of cases) it(`compat=${compat}: ${title}`, async () => rebaseBoth(threeLayers(compat), args));

  it('an overlay with snapshots keeps them', async () => {
    const folder = threeLayers();
    qemuImgOk('snapshot', '-c', 's1', join(folder, 'top.qcow2'));
    const { ours } = await rebaseBoth(folder, ['-u', '-b', 'new.qcow2', '-F', 'qcow2']);
    expect(qemuImg('check', join(ours, 'top.qcow2')).code).toBe(0);
  });
});

describe('rebase: bad arguments and refusals get qemu-img words', () => {
  const cases: [string, string[]][] = [
    ['onto a missing file', ['-b', 'missing.qcow2', '-F', 'qcow2']],
    ['onto a missing file without -F', ['-b', 'missing.qcow2']],
    ['safe mode without -F: the data is copied, the header refused', ['-b', 'new.qcow2']],
    ['-u without -F', ['-u', '-b', 'new.qcow2']],
    ['no -b', []],
    ['a bad cache mode', ['-t', 'fast', '-b', 'new.qcow2', '-F', 'qcow2']],
    ['a bad source cache mode', ['-T', 'fast', '-b', 'new.qcow2', '-F', 'qcow2']],
    ['a new backing file of the wrong format', ['-b', 'new.qcow2', '-F', 'raw']],
  ];
  for (const [title, args] of cases) it(title, async () => rebaseBoth(threeLayers(), args));

  it('two file names', async () => {
    const expected = qemuImg('rebase', '-b', 'x', 'a', 'b');
    const run = await diskimg('rebase', '-b', 'x', 'a', 'b');
    expect(run.code).toBe(expected.code);
    expect(run.stderr).toBe(expected.stderr.replaceAll('qemu-img', 'diskimg'));
  });

  it('a missing old backing file: safe mode fails as qemu-img does; -u rewrites the header all the same', async () => {
    const folder = chain([
      { name: 'base.qcow2', create: qcow2(), size: '4M' },
      { name: 'top.qcow2', create: over('base.qcow2'), writes: ['write -P 3 0 64k'] },
      { name: 'new.qcow2', create: qcow2(), size: '4M' },
    ]);
    rmSync(join(folder, 'base.qcow2'));
    await rebaseBoth(folder, ['-b', 'new.qcow2', '-F', 'qcow2']);
    await rebaseBoth(folder, ['-u', '-b', 'new.qcow2', '-F', 'qcow2']);
  });
});

describe('rebase: what diskimg does not write yet is refused before any write', () => {
  async function refused(folder: string, args: string[], top: string, message: (dir: string) => string): Promise<void> {
    const ours = `${folder}-refused-${serial++}`;
    copyFolder(folder, ours);
    const run = await diskimg('rebase', ...args, join(ours, top));
    expect(run).toEqual({ code: 1, stdout: '', stderr: `diskimg: ${message(ours)}\n` });
    for (const name of readdirSync(folder)) expect(firstDifference(join(ours, name), join(folder, name)), name).toBeNull();
  }
  const secret = ['--object', 'secret,id=s,data=pass'];
  const luks = ['-o', 'encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=10'];
  const ENCRYPTED = () => 'Rebasing encrypted images (or onto one) is not supported by diskimg yet';

  it('a LUKS-encrypted overlay, or a new backing file that is one', async () => {
    const folder = chain([
      { name: 'base.qcow2', create: qcow2(), size: '4M' },
      { name: 'top.qcow2', create: [...secret, ...over('base.qcow2'), ...luks] },
      { name: 'plain.qcow2', create: over('base.qcow2') },
      { name: 'luks.qcow2', create: [...secret, '-f', 'qcow2', ...luks], size: '4M' },
    ]);
    await refused(
      folder,
      ['-u', '-b', ''],
      'top.qcow2',
      (d) =>
        `Could not change the backing file: '${join(d, 'top.qcow2')}' is encrypted: writing an encrypted image in place is not supported by diskimg yet`,
    );
    await refused(folder, ['-b', 'luks.qcow2', '-F', 'qcow2'], 'plain.qcow2', ENCRYPTED);
  });

  it('an overlay with extended L2 entries, or with a persistent bitmap', async () => {
    const folder = chain([
      { name: 'base.qcow2', create: qcow2(), size: '4M' },
      { name: 'top.qcow2', create: [...over('base.qcow2'), '-o', 'extended_l2=on'] },
      { name: 'marked.qcow2', create: over('base.qcow2') },
    ]);
    qemuImgOk('bitmap', '--add', join(folder, 'marked.qcow2'), 'b0');
    await refused(
      folder,
      ['-u', '-b', ''],
      'top.qcow2',
      (d) =>
        `Could not change the backing file: '${join(d, 'top.qcow2')}' has extended L2 entries: writing it in place is not supported by diskimg yet`,
    );
    await refused(
      folder,
      ['-u', '-b', ''],
      'marked.qcow2',
      (d) =>
        `Could not change the backing file: '${join(d, 'marked.qcow2')}' has persistent bitmaps: writing it in place (their dirty bits) is not supported by diskimg yet`,
    );
  });

  it('a QED overlay, --image-opts', async () => {
    const folder = chain([
      { name: 'base.qcow2', create: qcow2(), size: '4M' },
      { name: 'top.qed', create: ['-f', 'qed', '-b', 'base.qcow2', '-F', 'qcow2'] },
    ]);
    await refused(folder, ['-u', '-b', ''], 'top.qed', () => 'diskimg rebases qcow2 overlays, not qed');
    await refused(folder, ['--image-opts', '-u', '-b', ''], 'top.qed', () => '--image-opts is not supported by diskimg rebase');
  });
});

describe('rebase: a process killed mid-way', () => {
  it('every crash point leaves an overlay that checks clean or repairable and reads as before', async () => {
    const folder = threeLayers();
    const before = diskBefore(folder);
    const bin = join(process.cwd(), 'src/cli/bin.ts');
    let crashes = 0;
    // Every fourth write boundary (a run has about 80; each crash costs a process start, ~2 s here).
    for (let writes = 1; ; writes += 4) {
      const target = `${folder}-killed-${writes}`;
      copyFolder(folder, target);
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', bin, 'rebase', '-b', 'new.qcow2', '-F', 'qcow2', join(target, 'top.qcow2')],
        {
          stdio: 'ignore',
          env: { ...process.env, DISKIMG_KILL_AFTER_WRITES: String(writes) },
        },
      );
      const signal = await new Promise((resolve) => child.once('exit', (_code, killed) => resolve(killed)));
      const path = join(target, 'top.qcow2');
      const check = qemuImg('check', path);
      if (check.code !== 0) {
        expect(check.code, `killed at write ${writes}: ${check.stdout}${check.stderr}`).toBe(3);
        qemuImgOk('check', '-q', '-r', 'leaks', path);
        expect(qemuImg('check', path).code).toBe(0);
      }
      expect(qemuImg('compare', '-F', 'raw', path, before).code, `killed at write ${writes}`).toBe(0);
      rmSync(target, { recursive: true });
      if (signal !== 'SIGKILL') break;
      crashes++;
    }
    expect(crashes).toBeGreaterThan(10);
  }, 600_000);
});
