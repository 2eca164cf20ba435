/**
 * diskimg commit writes an overlay into its backing file as qemu-img commit does: each case builds
 * one chain with qemu-img and qemu-io, copies it into two folders, runs qemu-img commit in one and
 * diskimg commit in the other. The emptied overlay is compared byte for byte (QEMU's make_empty is
 * deterministic). The base is byte-identical where QEMU's layout is deterministic (every write in
 * place, or one request); elsewhere QEMU's mirror job runs up to 16 requests at once and new
 * clusters land in a different order from run to run, so the bases must read the same (`qemu-img
 * compare`), check clean and have the same info and allocation map but for host offsets.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patch } from '../support/qemu.ts';
import { diskimg, firstDifference, qemuImg, qemuImgOk } from './support.ts';

let dir: string;
let serial = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskimg-commit-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const qemuIo = (path: string, format: string, ...commands: string[]) =>
  execFileSync('qemu-io', ['-f', format, ...commands.flatMap((c) => ['-c', c]), path], { stdio: 'ignore' });

/** One layer of a chain: its file name, how qemu-img creates it, what qemu-io writes into it. */
interface LayerSpec {
  name: string;
  create: string[];
  writes?: string[];
  format?: string;
}

/** Builds the chain (bottom first) in a new folder; returns the folder. */
function chain(layers: LayerSpec[]): string {
  const folder = join(dir, `chain-${serial++}`);
  mkdirSync(folder);
  for (const layer of layers) {
    const path = join(folder, layer.name);
    // The size, when given, is the last of `create`: it goes after the file name.
    const size = /^\d+[kMG]$/.test(layer.create.at(-1) ?? '') ? [layer.create.at(-1)!] : [];
    const options = size.length ? layer.create.slice(0, -1) : layer.create;
    qemuImgOk('create', '-q', ...options, path, ...size);
    if (layer.writes?.length) qemuIo(path, layer.format ?? 'qcow2', ...layer.writes);
  }
  return folder;
}

function copyFolder(from: string, to: string): void {
  mkdirSync(to);
  for (const name of readdirSync(from)) copyFileSync(join(from, name), join(to, name));
}

/** Allocation maps without host offsets (QEMU's placement varies from run to run), neighbours alike merged. */
function layout(path: string): Record<string, unknown>[] {
  const merged: Record<string, unknown>[] = [];
  for (const { offset: _o, ...extent } of JSON.parse(qemuImgOk('map', '--output=json', path))) {
    const last = merged.at(-1);
    const same = last && ['depth', 'present', 'zero', 'data'].every((key) => last[key] === extent[key]);
    if (same) last.length = (last.length as number) + extent.length;
    else merged.push(extent);
  }
  return merged;
}
const infoOf = (path: string) => {
  const {
    'actual-size': _a,
    filename: _f,
    'backing-filename': _b,
    'full-backing-filename': _fb,
    ...rest
  } = JSON.parse(qemuImgOk('info', '--output=json', path));
  return rest;
};

interface Outcome {
  theirs: string;
  ours: string;
}

/** Runs commit ARGS… on the chain's copies; same output and exit code; returns both folders. */
async function commitBoth(folder: string, args: string[], top: string): Promise<Outcome> {
  const theirs = `${folder}-theirs-${serial}`;
  const ours = `${folder}-ours-${serial++}`;
  copyFolder(folder, theirs);
  copyFolder(folder, ours);
  const expected = qemuImg('commit', ...args.map((a) => a.replaceAll('{dir}', theirs)), join(theirs, top));
  const run = await diskimg('commit', ...args.map((a) => a.replaceAll('{dir}', ours)), join(ours, top));
  expect({ code: run.code, stdout: run.stdout, stderr: run.stderr.replaceAll(ours, 'DIR') }).toEqual({
    code: expected.code,
    stdout: expected.stdout,
    stderr: expected.stderr
      .replaceAll('qemu-img:', 'diskimg:')
      .replaceAll("'qemu-img --help'", "'diskimg --help'")
      .replaceAll(theirs, 'DIR'),
  });
  return { theirs, ours };
}

/** Each file of the chain: byte-identical (`identical`), or read the same, check clean, same info and map. */
function expectSameFiles({ theirs, ours }: Outcome, identical: string[], equivalent: string[] = []): void {
  for (const name of identical) expect(firstDifference(join(ours, name), join(theirs, name)), name).toBeNull();
  for (const name of equivalent) {
    const [a, b] = [join(ours, name), join(theirs, name)];
    expect(qemuImg('check', a).code, `check ${name}`).toBe(0);
    expect(qemuImg('compare', a, b).code, `compare ${name}`).toBe(0);
    expect(infoOf(a), name).toEqual(infoOf(b));
    expect(layout(a), name).toEqual(layout(b));
  }
}

const qcow2 = (...options: string[]) => ['-f', 'qcow2', ...(options.length ? ['-o', options.join(',')] : [])];
const over = (backing: string, backingFormat = 'qcow2', ...options: string[]) => [...qcow2(...options), '-b', backing, '-F', backingFormat];
/** An overlay's writes: data over data, new data, a zero cluster, a discarded one, compressed clusters. */
const OVERLAY_WRITES = [
  'write -P 3 512k 128k',
  'write -P 4 10M 320k',
  'write -z 40M 64k',
  'write -z 50M 64k',
  'write -P 9 60M 64k',
  'discard 60M 64k',
  'write -c -P 6 20M 64k',
  'write -c -P 7 20544k 64k',
];
const BASE_WRITES = ['write -P 1 0 1M', 'write -P 2 40M 64k', 'write -P 5 20M 64k'];

describe('commit: a qcow2 overlay into its backing file', () => {
  for (const compat of ['1.1', '0.10']) {
    it(`compat=${compat}: data, zero, discarded and compressed clusters`, async () => {
      const folder = chain([
        { name: 'base.qcow2', create: [...qcow2(`compat=${compat}`), '64M'], writes: BASE_WRITES },
        { name: 'top.qcow2', create: over('base.qcow2', 'qcow2', `compat=${compat}`), writes: OVERLAY_WRITES },
      ]);
      const outcome = await commitBoth(folder, [], 'top.qcow2');
      expectSameFiles(outcome, ['top.qcow2'], ['base.qcow2', 'top.qcow2']);
    });
  }

  for (const option of ['cluster_size=2M', 'refcount_bits=1', 'refcount_bits=64', 'lazy_refcounts=on', 'compression_type=zstd']) {
    it(`${option} in both images`, async () => {
      const folder = chain([
        { name: 'base.qcow2', create: [...qcow2(option), '64M'], writes: ['write -P 1 0 1M'] },
        {
          name: 'top.qcow2',
          create: over('base.qcow2', 'qcow2', option),
          writes: ['write -P 3 512k 128k', 'write -P 4 10M 8M', 'write -z 30M 2M', 'write -c -P 5 40M 2M'],
        },
      ]);
      expectSameFiles(await commitBoth(folder, ['-q'], 'top.qcow2'), ['top.qcow2'], ['base.qcow2', 'top.qcow2']);
    });
  }

  it('every write in place (the base holds every cluster): the base is byte-identical too', async () => {
    const folder = chain([
      { name: 'base.qcow2', create: [...qcow2(), '4M'], writes: ['write -P 1 0 4M'] },
      { name: 'top.qcow2', create: over('base.qcow2'), writes: ['write -P 3 512k 128k', 'write -P 4 3M 4k'] },
    ]);
    expectSameFiles(await commitBoth(folder, ['-q'], 'top.qcow2'), ['top.qcow2', 'base.qcow2']);
  });

  it('one new cluster (one request): the base is byte-identical', async () => {
    const folder = chain([
      { name: 'base.qcow2', create: [...qcow2(), '4M'], writes: ['write -P 1 0 64k'] },
      { name: 'top.qcow2', create: over('base.qcow2'), writes: ['write -P 3 1M 64k'] },
    ]);
    expectSameFiles(await commitBoth(folder, [], 'top.qcow2'), ['top.qcow2', 'base.qcow2']);
  });

  it('compressed clusters in the base replaced; an overlay of 4 KiB clusters (granules part clean, part zero)', async () => {
    const folder = chain([
      {
        name: 'base.qcow2',
        create: [...qcow2(), '64M'],
        writes: ['write -c -P 1 0 64k', 'write -c -P 2 64k 64k', 'write -c -P 3 128k 64k', 'write -P 4 1M 1M'],
      },
      {
        name: 'top.qcow2',
        create: over('base.qcow2', 'qcow2', 'cluster_size=4k'),
        writes: ['write -P 5 4k 8k', 'write -P 6 1028k 4k', 'write -z 1100k 4k', 'write -P 7 30M 4k'],
      },
    ]);
    expectSameFiles(await commitBoth(folder, [], 'top.qcow2'), ['top.qcow2'], ['base.qcow2']);
  });

  it('-d leaves the overlay as it was', async () => {
    const folder = chain([
      { name: 'base.qcow2', create: [...qcow2(), '64M'], writes: BASE_WRITES },
      { name: 'top.qcow2', create: over('base.qcow2'), writes: OVERLAY_WRITES },
    ]);
    const outcome = await commitBoth(folder, ['-d'], 'top.qcow2');
    expectSameFiles(outcome, ['top.qcow2'], ['base.qcow2']);
    expect(firstDifference(join(outcome.ours, 'top.qcow2'), join(folder, 'top.qcow2'))).toBeNull();
  });

  it('a raw backing file', async () => {
    const folder = chain([
      { name: 'base.raw', create: ['-f', 'raw', '8M'], writes: ['write -P 1 0 1M'], format: 'raw' },
      { name: 'top.qcow2', create: over('base.raw', 'raw'), writes: ['write -P 3 512k 128k', 'write -z 0 64k', 'write -c -P 4 4M 64k'] },
    ]);
    expectSameFiles(await commitBoth(folder, [], 'top.qcow2'), ['top.qcow2', 'base.raw']);
  });

  it('a backing file with snapshots (its shared clusters copied, not overwritten)', async () => {
    const folder = chain([
      { name: 'base.qcow2', create: [...qcow2(), '64M'], writes: BASE_WRITES },
      { name: 'top.qcow2', create: over('base.qcow2'), writes: OVERLAY_WRITES },
    ]);
    qemuImgOk('snapshot', '-c', 'before', join(folder, 'base.qcow2'));
    const outcome = await commitBoth(folder, [], 'top.qcow2');
    expectSameFiles(outcome, ['top.qcow2'], ['base.qcow2']);
    // The snapshot still reads as the base did before the commit.
    for (const side of [outcome.ours, outcome.theirs])
      qemuImgOk('convert', '-l', 'before', '-O', 'raw', join(side, 'base.qcow2'), join(side, 'before.raw'));
    expect(firstDifference(join(outcome.ours, 'before.raw'), join(outcome.theirs, 'before.raw'))).toBeNull();
  });

  it('an overlay with a snapshot is emptied entry by entry', async () => {
    const folder = chain([
      { name: 'base.qcow2', create: [...qcow2(), '2G'], writes: ['write -P 1 0 1M'] },
      { name: 'top.qcow2', create: over('base.qcow2'), writes: ['write -P 3 512k 128k'] },
    ]);
    qemuImgOk('snapshot', '-c', 's1', join(folder, 'top.qcow2'));
    qemuIo(join(folder, 'top.qcow2'), 'qcow2', 'write -P 4 1500M 64k', 'write -P 5 0 64k');
    expectSameFiles(await commitBoth(folder, [], 'top.qcow2'), ['top.qcow2'], ['base.qcow2']);
  });

  it('a v2 overlay over a 2 GiB disk: empty L2 tables given to every L1 entry, as QEMU does', async () => {
    const folder = chain([
      { name: 'base.qcow2', create: [...qcow2('compat=0.10'), '2G'] },
      { name: 'top.qcow2', create: over('base.qcow2', 'qcow2', 'compat=0.10'), writes: ['write -P 3 512k 128k', 'write -P 4 1500M 64k'] },
    ]);
    expectSameFiles(await commitBoth(folder, [], 'top.qcow2'), ['top.qcow2'], ['base.qcow2']);
  });

  it('a chain of 3: into the middle image by default, the top emptied', async () => {
    const folder = chain([
      { name: 'base.qcow2', create: [...qcow2(), '64M'], writes: ['write -P 1 0 1M'] },
      { name: 'mid.qcow2', create: over('base.qcow2'), writes: ['write -P 5 1M 128k', 'write -z 0 64k'] },
      { name: 'top.qcow2', create: over('mid.qcow2'), writes: ['write -P 3 512k 128k', 'write -z 1M 64k'] },
    ]);
    expectSameFiles(await commitBoth(folder, [], 'top.qcow2'), ['top.qcow2', 'base.qcow2'], ['mid.qcow2']);
  });

  it('a chain of 3 with -b: both upper layers into the base, which implies -d', async () => {
    const folder = chain([
      { name: 'base.qcow2', create: [...qcow2(), '64M'], writes: ['write -P 1 0 1M'] },
      { name: 'mid.qcow2', create: over('base.qcow2'), writes: ['write -P 5 1M 128k', 'write -z 0 64k'] },
      { name: 'top.qcow2', create: over('mid.qcow2'), writes: ['write -P 3 512k 128k', 'write -z 1M 64k'] },
    ]);
    expectSameFiles(await commitBoth(folder, ['-b', 'base.qcow2'], 'top.qcow2'), ['top.qcow2', 'mid.qcow2'], ['base.qcow2']);
  });

  it('a base smaller than the overlay grows first (qcow2: a longer L1 table; raw: a longer file)', async () => {
    const folder = chain([
      { name: 'base.qcow2', create: [...qcow2(), '4M'], writes: ['write -P 1 0 1M'] },
      { name: 'top.qcow2', create: [...over('base.qcow2'), '2G'], writes: ['write -P 3 512k 128k', 'write -P 4 1500M 64k'] },
      { name: 'base.raw', create: ['-f', 'raw', '1M'] },
      { name: 'over-raw.qcow2', create: [...over('base.raw', 'raw'), '8M'], writes: ['write -P 5 6M 64k'] },
    ]);
    expectSameFiles(await commitBoth(folder, [], 'top.qcow2'), ['top.qcow2', 'base.qcow2']);
    expectSameFiles(await commitBoth(folder, [], 'over-raw.qcow2'), ['over-raw.qcow2', 'base.raw']);
  });

  it('-p prints progress as qemu-img does, ending at 100 %', async () => {
    const folder = chain([
      { name: 'base.qcow2', create: [...qcow2(), '4M'] },
      { name: 'top.qcow2', create: over('base.qcow2'), writes: ['write -P 3 0 64k'] },
    ]);
    const { theirs, ours } = { theirs: `${folder}-theirs`, ours: `${folder}-ours` };
    copyFolder(folder, theirs);
    copyFolder(folder, ours);
    const run = await diskimg('commit', '-p', join(ours, 'top.qcow2'));
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^ {4}\(0\.00\/100%\)\r.*\(100\.00\/100%\)\r\nImage committed\.\n$/s);
  });
});

describe('commit: refusals and bad arguments get qemu-img words', () => {
  const simple = () =>
    chain([
      { name: 'base.qcow2', create: [...qcow2(), '4M'] },
      { name: 'top.qcow2', create: over('base.qcow2'), writes: ['write -P 3 0 64k'] },
    ]);
  const cases: [string, string[], string][] = [
    ['no backing file', [], 'base.qcow2'],
    ['-b naming no image of the chain', ['-b', 'nowhere.qcow2'], 'top.qcow2'],
    ['-b naming the image itself', ['-b', 'top.qcow2'], 'top.qcow2'],
    ['a bad cache mode', ['-t', 'bogus'], 'top.qcow2'],
    ['a bad rate limit', ['-r', 'fast'], 'top.qcow2'],
    ['a missing file', [], 'missing.qcow2'],
    ['a qcow2 read as raw has no backing file', ['-f', 'raw'], 'top.qcow2'],
  ];
  for (const [title, args, target] of cases) {
    it(title, async () => {
      const folder = simple();
      const outcome = await commitBoth(folder, args, target);
      expectSameFiles(outcome, ['top.qcow2', 'base.qcow2']);
      expect(firstDifference(join(outcome.ours, 'top.qcow2'), join(folder, 'top.qcow2'))).toBeNull();
    });
  }

  it('two file names', async () => {
    const expected = qemuImg('commit', 'a', 'b');
    const run = await diskimg('commit', 'a', 'b');
    expect(run.code).toBe(expected.code);
    expect(run.stderr).toBe(expected.stderr.replaceAll('qemu-img', 'diskimg'));
  });

  it('a LUKS-encrypted chain: refused before anything is written', async () => {
    const secret = ['--object', 'secret,id=s,data=pass'];
    const luks = ['-o', 'encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=10'];
    const folder = chain([
      { name: 'base.qcow2', create: [...secret, '-f', 'qcow2', ...luks, '4M'] },
      { name: 'top.qcow2', create: [...secret, '-f', 'qcow2', ...luks, '-b', 'base.qcow2', '-F', 'qcow2'] },
    ]);
    const ours = `${folder}-ours`;
    copyFolder(folder, ours);
    const run = await diskimg('commit', join(ours, 'top.qcow2'));
    expect(run).toEqual({
      code: 1,
      stdout: '',
      stderr: `diskimg: '${join(ours, 'top.qcow2')}' is encrypted: committing encrypted images is not supported by diskimg yet\n`,
    });
    for (const name of ['top.qcow2', 'base.qcow2']) expect(firstDifference(join(ours, name), join(folder, name))).toBeNull();
  });
});

describe('commit: what diskimg does not write yet is refused before any write', () => {
  /** Runs diskimg commit ARGS… top in a copy; expects exit 1, `message`, and every file untouched. */
  async function refused(folder: string, args: string[], top: string, message: (dir: string) => string): Promise<void> {
    const ours = `${folder}-refused-${serial++}`;
    copyFolder(folder, ours);
    const run = await diskimg('commit', ...args, join(ours, top));
    expect(run).toEqual({ code: 1, stdout: '', stderr: `diskimg: ${message(ours)}\n` });
    for (const name of readdirSync(folder)) expect(firstDifference(join(ours, name), join(folder, name)), name).toBeNull();
  }
  const base = { name: 'base.qcow2', create: [...qcow2(), '4M'], writes: ['write -P 1 0 64k'] };

  it('an overlay with extended L2 entries', async () => {
    const folder = chain([
      base,
      { name: 'top.qcow2', create: over('base.qcow2', 'qcow2', 'extended_l2=on'), writes: ['write -P 2 0 64k'] },
    ]);
    await refused(
      folder,
      [],
      'top.qcow2',
      (d) =>
        `Could not empty the image: '${join(d, 'top.qcow2')}' has extended L2 entries: writing it in place is not supported by diskimg yet`,
    );
  });

  it('a base with a persistent bitmap', async () => {
    const folder = chain([base, { name: 'top.qcow2', create: over('base.qcow2'), writes: ['write -P 2 0 64k'] }]);
    qemuImgOk('bitmap', '--add', join(folder, 'base.qcow2'), 'b0');
    await refused(
      folder,
      ['-d'],
      'top.qcow2',
      (d) =>
        `Could not commit the image: '${join(d, 'base.qcow2')}' has persistent bitmaps: writing it in place (their dirty bits) is not supported by diskimg yet`,
    );
  });

  it('an overlay marked dirty (the dirty bit set in a qemu-img image)', async () => {
    const folder = chain([base, { name: 'top.qcow2', create: over('base.qcow2'), writes: ['write -P 2 0 64k'] }]);
    patch(join(folder, 'top.qcow2'), 79, [1]);
    await refused(
      folder,
      [],
      'top.qcow2',
      (d) =>
        `Could not empty the image: '${join(d, 'top.qcow2')}' is marked dirty (its refcounts are not up to date): repair it with qemu-img check -r all first`,
    );
  });

  it('a base whose refcount table would have to grow: stopped with that said, the chain reading the same', async () => {
    const folder = chain([
      { name: 'base.qcow2', create: [...qcow2('cluster_size=512'), '64M'] },
      { name: 'top.qcow2', create: over('base.qcow2', 'qcow2', 'cluster_size=512'), writes: ['write -P 4 0 16M'] },
    ]);
    const ours = `${folder}-ours`;
    copyFolder(folder, ours);
    const run = await diskimg('commit', join(ours, 'top.qcow2'));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^diskimg: Could not commit the image: Cluster \d+ lies past what the refcount table can reach: growing the refcount table is not supported by diskimg yet\n$/,
    );
    // The overlay is untouched; the base holds part of its data, all referenced clusters counted.
    expect(firstDifference(join(ours, 'top.qcow2'), join(folder, 'top.qcow2'))).toBeNull();
    expect([0, 3]).toContain(qemuImg('check', join(ours, 'base.qcow2')).code);
    expect(qemuImg('compare', join(ours, 'top.qcow2'), join(folder, 'top.qcow2')).code).toBe(0);
  });

  it('a QED overlay, a VMDK base, --image-opts', async () => {
    const folder = chain([
      base,
      { name: 'top.qed', create: ['-f', 'qed', '-b', 'base.qcow2', '-F', 'qcow2'] },
      { name: 'base.vmdk', create: ['-f', 'vmdk', '4M'] },
      { name: 'over-vmdk.qcow2', create: over('base.vmdk', 'vmdk'), writes: ['write -P 2 0 64k'] },
    ]);
    await refused(folder, [], 'top.qed', () => 'diskimg commits qcow2 overlays, not qed');
    await refused(folder, [], 'over-vmdk.qcow2', () => 'diskimg commits into qcow2 and raw backing files, not vmdk');
    await refused(folder, ['--image-opts'], 'over-vmdk.qcow2', () => '--image-opts is not supported by diskimg commit');
  });
});

describe('commit: a process killed mid-way', () => {
  /**
   * DISKIMG_KILL_AFTER_WRITES=N kills the CLI as its Nth write begins (to the base or the
   * overlay): at every crash point both files must check clean or repairable, and the disk read
   * through the overlay must be the old one or the new one — the same either way, since the
   * overlay's data stays until it is in the base.
   */
  it('every crash point leaves a chain that checks clean or repairable and reads the same', async () => {
    const folder = chain([
      { name: 'base.qcow2', create: [...qcow2(), '64M'], writes: BASE_WRITES },
      { name: 'top.qcow2', create: over('base.qcow2'), writes: OVERLAY_WRITES },
    ]);
    const expected = join(dir, `expected-${serial++}.raw`);
    qemuImgOk('convert', '-O', 'raw', join(folder, 'top.qcow2'), expected);
    const bin = join(process.cwd(), 'src/cli/bin.ts');
    let crashes = 0;
    for (let writes = 1; ; writes++) {
      const target = `${folder}-killed-${writes}`;
      copyFolder(folder, target);
      const child = spawn(process.execPath, ['--import', 'tsx', bin, 'commit', join(target, 'top.qcow2')], {
        stdio: 'ignore',
        env: { ...process.env, DISKIMG_KILL_AFTER_WRITES: String(writes) },
      });
      const signal = await new Promise((resolve) => child.once('exit', (_code, killed) => resolve(killed)));
      for (const name of ['base.qcow2', 'top.qcow2']) {
        const path = join(target, name);
        const check = qemuImg('check', path);
        // 0 clean; 3 leaks only; 2 with the dirty flag set (the overlay mid-reset): -r all repairs.
        if (check.code !== 0) {
          expect([2, 3], `killed at write ${writes}, ${name}: ${check.stdout}${check.stderr}`).toContain(check.code);
          if (check.code === 2) expect(JSON.parse(qemuImgOk('info', '--output=json', path))['dirty-flag']).toBe(true);
          qemuImgOk('check', '-q', '-r', 'all', path);
          expect(qemuImg('check', path).code).toBe(0);
        }
      }
      expect(qemuImg('compare', '-F', 'raw', join(target, 'top.qcow2'), expected).code, `killed at write ${writes}`).toBe(0);
      rmSync(target, { recursive: true });
      if (signal !== 'SIGKILL') break;
      crashes++;
    }
    expect(crashes).toBeGreaterThan(20);
  }, 600_000);
});
