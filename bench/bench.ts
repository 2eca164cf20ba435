/**
 * npm run bench: the same conversions by qemu-img and by diskimg (the built CLI) on the same
 * input, in the same run, interleaved, each input re-read into the page cache first. Prints MB/s
 * (of virtual size), output sizes, peak memory and the ratio qemu-img time / diskimg time
 * (above 1: diskimg is faster). Nothing here asserts a time: the figures are for people.
 *
 *   npm run bench -- [--size-gib 2] [--reps 3] [--dir /tmp/diskimg-bench] [--only zlib,raw]
 *
 * --only keeps the jobs whose name contains one of the words, or is exactly one given as =name
 * (--only '=raw→qcow2' is the plain conversion alone).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, writeSync, statSync, rmSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { inputFile, qcow2Made, qemuImage, qemuQcow2, type Qcow2Kind } from './files.ts';
import { option } from './options.ts';

const sizeGiB = Number(option('size-gib', '2'));
const reps = Number(option('reps', '3'));
const dir = resolve(option('dir', '/tmp/diskimg-bench'));
const only = option('only', '').split(',').filter(Boolean);
const cli = resolve('dist-cli/diskimg.mjs');
const time = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

if (!existsSync(cli)) throw new Error('build the CLI first: npm run build:cli');
mkdirSync(dir, { recursive: true });

/** 40 % zero, 30 % random, 30 % text-like clusters in runs of 1-8 MiB (as shared/notes/perf.md). */
function makeInput(file: string, bytes: number): void {
  if (existsSync(file) && statSync(file).size === bytes) return;
  const text = readdirSync('/usr/share/perl5', { recursive: true })
    .map((name) => join('/usr/share/perl5', String(name)))
    .filter((path) => path.endsWith('.pm'))
    .slice(0, 400)
    .map((path) => readFileSync(path))
    .reduce((all, b) => Buffer.concat([all, b]), Buffer.alloc(0));
  const source = text.length > 1 << 20 ? text : Buffer.from('qcow2 cluster refcount snapshot backing '.repeat(100000));
  // xorshift32: cheap, and with no short cycles in its low bits (unlike an LCG's).
  let state = 42;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(8 << 20);
  for (let at = 0; at < bytes;) {
    const run = Math.min(bytes - at, ((next() % 8) + 1) << 20);
    const kind = next() % 10;
    const view = chunk.subarray(0, run);
    if (kind < 4) view.fill(0);
    else if (kind < 7) for (let i = 0; i < run; i += 4) view.writeUInt32LE(next(), i);
    else for (let i = 0; i < run; i += 65536) source.copy(view, i, next() % (source.length - 65536), undefined);
    writeSync(fd, view, 0, run, at);
    at += run;
  }
  closeSync(fd);
}

interface Measure {
  seconds: number;
  maxRssMiB?: number;
}

function run(command: string, argv: string[]): Measure {
  const start = process.hrtime.bigint();
  const result = time
    ? spawnSync(time, ['-f', '%M', command, ...argv], { encoding: 'utf8' })
    : spawnSync(command, argv, { encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status !== 0) throw new Error(`${command} ${argv.join(' ')} failed: ${result.stderr}`);
  const rss = time ? Number(result.stderr.trim().split('\n').pop()) / 1024 : undefined;
  return { seconds, maxRssMiB: rss };
}

const warm = (file: string) => {
  execFileSync('cat', [file], { maxBuffer: 1 << 20, stdio: ['ignore', 'ignore', 'ignore'] });
  // The previous run's output written back first: else its writeback slows the next run's writes.
  execFileSync('sync');
};
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const input = inputFile(dir, sizeGiB);
console.log(`making ${sizeGiB} GiB input ${input} …`);
makeInput(input, sizeGiB * 1024 ** 3);
const virtualBytes = statSync(input).size;

interface Job {
  name: string;
  from: () => string;
  out: string;
  qemu: string[];
  ours: string[];
  /** Named to qemu-img compare (a fixed VHD is not probed). */
  format?: string;
}

const q = (name: string) => join(dir, name);
const made = (kind: Qcow2Kind) => qcow2Made(kind, sizeGiB);
const jobs: Job[] = [
  {
    name: 'raw→qcow2',
    from: () => input,
    out: made('plain'),
    qemu: ['convert', '-f', 'raw', '-O', 'qcow2'],
    ours: ['convert', '-f', 'raw', '-O', 'qcow2'],
  },
  {
    name: 'raw→qcow2 zlib',
    from: () => input,
    out: made('zlib'),
    qemu: ['convert', '-c', '-f', 'raw', '-O', 'qcow2'],
    ours: ['convert', '-c', '-f', 'raw', '-O', 'qcow2'],
  },
  {
    name: 'raw→qcow2 zstd',
    from: () => input,
    out: made('zstd'),
    qemu: ['convert', '-c', '-f', 'raw', '-O', 'qcow2', '-o', 'compression_type=zstd'],
    ours: ['convert', '-c', '-f', 'raw', '-O', 'qcow2', '-o', 'compression_type=zstd'],
  },
  {
    name: 'raw→vmdk stream',
    from: () => input,
    out: 'stream.vmdk',
    qemu: ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized'],
    ours: ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized'],
  },
  {
    name: 'qcow2→raw',
    from: () => qemuQcow2(dir, 'plain', sizeGiB),
    out: 'back-plain.raw',
    qemu: ['convert', '-f', 'qcow2', '-O', 'raw'],
    ours: ['convert', '-f', 'qcow2', '-O', 'raw'],
  },
  {
    name: 'qcow2 zlib→raw',
    from: () => qemuQcow2(dir, 'zlib', sizeGiB),
    out: 'back-zlib.raw',
    qemu: ['convert', '-f', 'qcow2', '-O', 'raw'],
    ours: ['convert', '-f', 'qcow2', '-O', 'raw'],
  },
  {
    name: 'qcow2 zstd→raw',
    from: () => qemuQcow2(dir, 'zstd', sizeGiB),
    out: 'back-zstd.raw',
    qemu: ['convert', '-f', 'qcow2', '-O', 'raw'],
    ours: ['convert', '-f', 'qcow2', '-O', 'raw'],
  },
  ...[
    ['raw→vmdk', 'vmdk', []],
    ['raw→vhd', 'vpc', []],
    ['raw→vhd fixed', 'vpc', ['-o', 'subformat=fixed']],
    ['raw→vdi', 'vdi', []],
    ['raw→vhdx', 'vhdx', []],
  ].map(([name, format, options]) => {
    const args = ['convert', '-f', 'raw', '-O', format as string, ...(options as string[])];
    return {
      name: name as string,
      from: () => input,
      out: `${(name as string).replace(/\W+/g, '-')}-${sizeGiB}g.${format}`,
      qemu: args,
      ours: args,
      format: format as string,
    };
  }),
  // The readers of the other formats, each from qemu-img's own image of the input.
  ...[
    ['vmdk→raw', 'vmdk', []],
    ['vmdk stream→raw', 'vmdk', ['-o', 'subformat=streamOptimized']],
    ['vhd→raw', 'vpc', []],
    ['vdi→raw', 'vdi', []],
    ['vhdx→raw', 'vhdx', []],
  ].map(([name, format, options]) => {
    const args = ['convert', '-f', format as string, '-O', 'raw'];
    return {
      name: name as string,
      from: () => qemuImage(dir, format as string, options as string[], sizeGiB),
      out: `${(name as string).replace(/\W+/g, '-')}-${sizeGiB}g.raw`,
      qemu: args,
      ours: args,
    };
  }),
];

const rows: string[] = [];
const mbps = (seconds: number) => (virtualBytes / 1e6 / seconds).toFixed(0);
for (const job of jobs) {
  if (only.length && !only.some((o) => (o.startsWith('=') ? job.name === o.slice(1) : job.name.includes(o)))) continue;
  const qemuTimes: Measure[] = [];
  const ourTimes: Measure[] = [];
  const source = job.from();
  for (let rep = 0; rep < reps; rep++) {
    for (const who of rep % 2 === 0 ? ['qemu', 'ours'] : ['ours', 'qemu']) {
      const out = q(`${job.out}.${who}`);
      rmSync(out, { force: true });
      warm(source);
      if (who === 'qemu') qemuTimes.push(run('qemu-img', [...job.qemu, source, out]));
      else ourTimes.push(run('node', [cli, ...job.ours, source, out]));
    }
  }
  const tq = median(qemuTimes.map((m) => m.seconds));
  const to = median(ourTimes.map((m) => m.seconds));
  const sq = statSync(q(`${job.out}.qemu`)).size;
  const so = statSync(q(`${job.out}.ours`)).size;
  const formats = job.format ? ['-f', job.format, '-F', job.format] : [];
  const same =
    spawnSync('qemu-img', ['compare', ...formats, q(`${job.out}.qemu`), q(`${job.out}.ours`)], { encoding: 'utf8' }).status === 0;
  const rss = Math.max(...ourTimes.map((m) => m.maxRssMiB ?? 0));
  rows.push(
    `${job.name.padEnd(16)} qemu-img ${mbps(tq).padStart(5)} MB/s  diskimg ${mbps(to).padStart(5)} MB/s  ratio ${(tq / to).toFixed(2)}  ` +
      `size ${(so / sq).toFixed(4)}× (${so} vs ${sq})  peak RSS ${rss ? `${rss.toFixed(0)} MiB` : '?'}  ${same ? 'identical' : 'DIFFERENT'}`,
  );
  console.log(rows[rows.length - 1]);
}
console.log(`\n${sizeGiB} GiB input, median of ${reps} interleaved runs, ratio = qemu-img time / diskimg time (> 1: diskimg faster)`);
