/**
 * Writing qcow2 that QEMU accepts: for every option and from raw and qcow2 sources, qemu-img check
 * finds nothing wrong, qemu-img compare finds the disks identical, qemu-img info shows the options
 * asked for, and without compression the file is byte-identical to the one qemu-img writes.
 */
import { mkdtempSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, afterAll } from 'vitest';
import { fixtures } from './fixtures.ts';
import { diskimg, firstDifference, qemuImg, qemuImgOk } from './support.ts';

let out: string;
beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'diskimg-write-'));
});

const source = (name: string) => {
  const fixture = fixtures().find((f) => f.name === name);
  if (!fixture) throw new Error(`no fixture ${name}`);
  return fixture.file;
};

interface Case {
  options: string;
  compress?: boolean;
  /** What qemu-img info must then report. */
  expect: Record<string, unknown>;
}

const CASES: Case[] = [
  { options: '', expect: { 'cluster-size': 65536, compat: '1.1', 'refcount-bits': 16 } },
  { options: 'cluster_size=512', expect: { 'cluster-size': 512 } },
  { options: 'cluster_size=4k', expect: { 'cluster-size': 4096 } },
  { options: 'cluster_size=2M', expect: { 'cluster-size': 2097152 } },
  { options: 'compat=0.10', expect: { compat: '0.10' } },
  { options: 'refcount_bits=1', expect: { 'refcount-bits': 1 } },
  { options: 'refcount_bits=8', expect: { 'refcount-bits': 8 } },
  { options: 'refcount_bits=64,cluster_size=512', expect: { 'refcount-bits': 64, 'cluster-size': 512 } },
  { options: 'lazy_refcounts=on', expect: { 'lazy-refcounts': true } },
  { options: 'preallocation=metadata', expect: { 'cluster-size': 65536 } },
  { options: 'preallocation=metadata,cluster_size=4k,compat=0.10', expect: { 'cluster-size': 4096, compat: '0.10' } },
  { options: '', compress: true, expect: { 'compression-type': 'zlib' } },
  { options: 'compression_type=zstd', compress: true, expect: { 'compression-type': 'zstd' } },
  { options: 'cluster_size=4k', compress: true, expect: { 'cluster-size': 4096, 'compression-type': 'zlib' } },
  { options: 'compression_type=zstd,cluster_size=2M', compress: true, expect: { 'compression-type': 'zstd', 'cluster-size': 2097152 } },
  { options: 'refcount_bits=1', compress: true, expect: { 'refcount-bits': 1 } },
];

const SOURCES = ['raw', 'compressed-zlib-64k.qcow2', 'chain-depth3', 'extl2-64k.qcow2', 'convert-compat0.10-cluster512.qcow2'];

function infoOf(file: string): Record<string, unknown> {
  const info = JSON.parse(qemuImgOk('info', '--output=json', file));
  return { 'cluster-size': info['cluster-size'], ...info['format-specific'].data };
}

describe.each(SOURCES)('from %s', (sourceName) => {
  for (const c of CASES) {
    const flags = [...(c.compress ? ['-c'] : []), ...(c.options ? ['-o', c.options] : [])];
    it(`convert -O qcow2 ${flags.join(' ')}`, async () => {
      const input = source(sourceName);
      const tag = `${sourceName}-${c.compress ? 'c-' : ''}${c.options || 'default'}`.replace(/[^\w.-]/g, '_');
      const ours = join(out, `${tag}.ours.qcow2`);
      const theirs = join(out, `${tag}.qemu.qcow2`);
      const run = await diskimg('convert', '-O', 'qcow2', ...flags, input, ours);
      expect(run).toMatchObject({ code: 0, stderr: '' });
      qemuImgOk('convert', '-O', 'qcow2', ...flags, input, theirs);

      const check = qemuImg('check', ours);
      expect(check.stdout).toContain('No errors were found on the image.');
      expect(check.code).toBe(0);
      expect(qemuImg('compare', input, ours).stdout).toBe('Images are identical.\n');
      expect(infoOf(ours)).toMatchObject(c.expect);
      if (c.compress) {
        // Same layout rules, another build of zlib/zstd: at most 1 % larger than qemu-img's.
        expect(statSync(ours).size).toBeLessThanOrEqual(statSync(theirs).size * 1.01);
      } else {
        expect(firstDifference(ours, theirs)).toBeNull();
      }
      // Our own check agrees with qemu-img's on what we wrote.
      expect((await diskimg('check', '--output=json', ours)).stdout).toBe(qemuImg('check', '--output=json', ours).stdout);
    });
  }
});

describe('convert from a snapshot and of a huge sparse disk', () => {
  it('writes the disk as it was at a snapshot', async () => {
    const input = source('snapshots');
    const ours = join(out, 'snap.ours.qcow2');
    const theirs = join(out, 'snap.qemu.qcow2');
    expect((await diskimg('convert', '-O', 'qcow2', '-l', 'snapshot.name=first', input, ours)).code).toBe(0);
    qemuImgOk('convert', '-O', 'qcow2', '-l', 'snapshot.name=first', input, theirs);
    expect(qemuImg('compare', ours, theirs).stdout).toBe('Images are identical.\n');
    expect(firstDifference(ours, theirs)).toBeNull();
  });

  it('writes a 4 TiB disk holding 64 KiB as a small file', async () => {
    const ours = join(out, 'huge.ours.qcow2');
    const theirs = join(out, 'huge.qemu.qcow2');
    expect((await diskimg('convert', '-O', 'qcow2', source('sparse-4TiB'), ours)).code).toBe(0);
    qemuImgOk('convert', '-O', 'qcow2', source('sparse-4TiB'), theirs);
    expect(firstDifference(ours, theirs)).toBeNull();
    expect(statSync(ours).size).toBeLessThan(2 * 1024 * 1024);
  });
});

describe('create', () => {
  const cases: string[][] = [
    ['-f', 'qcow2', 'SIZE:1G'],
    ['-f', 'qcow2', '-o', 'cluster_size=512', 'SIZE:100M'],
    ['-f', 'qcow2', '-o', 'compat=0.10,cluster_size=4k', 'SIZE:10G'],
    ['-f', 'qcow2', '-o', 'compression_type=zstd,lazy_refcounts=on,refcount_bits=8', 'SIZE:1000001'],
    ['-f', 'qcow2', '-b', 'BACKING', '-F', 'qcow2'],
    ['-f', 'qcow2', '-o', 'preallocation=metadata', 'SIZE:1000001'],
    ['-f', 'raw', 'SIZE:1M'],
  ];
  for (const [i, template] of cases.entries()) {
    it(`creates what qemu-img create creates: ${template.join(' ')}`, async () => {
      const backing = join(out, `create-base-${i}.qcow2`);
      qemuImgOk('create', '-q', '-f', 'qcow2', backing, '2G');
      const args = (file: string) => {
        const list = template.filter((a) => !a.startsWith('SIZE:')).map((a) => (a === 'BACKING' ? backing : a));
        const size = template.find((a) => a.startsWith('SIZE:'))?.slice(5);
        return [...list, file, ...(size ? [size] : [])];
      };
      const ours = join(out, `create-${i}.ours`);
      const theirs = join(out, `create-${i}.qemu`);
      const run = await diskimg('create', ...args(ours));
      const expected = qemuImg('create', ...args(theirs));
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(expected.stdout.replace(theirs, ours));
      expect(firstDifference(ours, theirs)).toBeNull();
    });
  }

  it('refuses compression with preallocation, as qemu-img does', async () => {
    const input = source('raw');
    const run = await diskimg('convert', '-c', '-O', 'qcow2', '-o', 'preallocation=metadata', input, join(out, 'no.qcow2'));
    const expected = qemuImg('convert', '-c', '-O', 'qcow2', '-o', 'preallocation=metadata', input, join(out, 'no-qemu.qcow2'));
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(expected.stderr.replace('qemu-img:', 'diskimg:'));
  });

  it('refuses a backing file without its format, as qemu-img 7.2 does', async () => {
    const run = await diskimg('create', '-f', 'qcow2', '-b', join(out, 'create-base-4.qcow2'), join(out, 'nofmt.qcow2'));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Backing file specified without backing format');
  });
});

afterAll(() => rmSync(out, { recursive: true, force: true }));
