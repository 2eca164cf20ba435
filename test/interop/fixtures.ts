/**
 * The interop matrix: images made by the real qemu-img and qemu-io, covering every layout the
 * reader must handle. Built once into a cache folder keyed by this file's content.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedFixtures } from '../support/fixture-cache.ts';

export interface Fixture {
  name: string;
  /** Path of the image (top of the chain). */
  file: string;
  /** Snapshot names to convert with -l. */
  snapshots?: string[];
  /** The image has a backing chain: also compare --backing-chain output. */
  chain?: boolean;
  /** Why qemu-img map's output may differ here, if it may (see the test). */
  mapDiffers?: string;
  /** Compare raw conversions with qemu-img compare instead of byte by byte (huge sparse disks). */
  sparse?: boolean;
}

const MiB = 1024 * 1024;

/** Deterministic bytes: text-like (compresses ~4×), random (does not), or zeros. */
export function pattern(kind: 'text' | 'random' | 'zero', length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  if (kind === 'zero') return out;
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  if (kind === 'random') {
    for (let i = 0; i < length; i += 4) out.writeUInt32LE(next(), i);
    return out;
  }
  const words = ['qcow2', 'cluster', 'guest', 'host', 'refcount', 'snapshot', 'backing', 'libvirt', 'Proxmox', 'máy ảo', 'đĩa', '\n'];
  let text = '';
  while (text.length < length) text += `${words[next() % words.length]} ${next() % 997} `;
  Buffer.from(text).copy(out, 0, 0, length);
  return out;
}

/** A raw disk of text, random and zero runs, every byte written (so no holes in the file). */
export function mixedRaw(file: string, size: number, seed: number): string {
  const parts: Buffer[] = [];
  let at = 0;
  let n = seed;
  const kinds = ['text', 'zero', 'random', 'text', 'zero'] as const;
  while (at < size) {
    n = (n * 1103515245 + 12345) >>> 0;
    const kind = kinds[n % kinds.length];
    const length = Math.min(size - at, [512, 3000, 4096, 65536, 200_000, MiB][(n >>> 8) % 6]);
    parts.push(pattern(kind, length, n));
    at += length;
  }
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

// Run in the fixture folder, so relative names (backing and data files) resolve there.
let cwd = '.';
const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
const qemuIo = (file: string, ...commands: string[]) =>
  execFileSync('qemu-io', ['-f', 'qcow2', ...commands.flatMap((c) => ['-c', c]), file], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });

function build(dir: string): Fixture[] {
  cwd = dir;
  const f = (name: string) => join(dir, name);
  const fixtures: Fixture[] = [];
  const source = mixedRaw(f('source.raw'), 24 * MiB + 3 * 512, 7);

  for (const compat of ['0.10', '1.1']) {
    for (const cluster of ['512', '4k', '64k', '2M']) {
      const name = `convert-compat${compat}-cluster${cluster}.qcow2`;
      qemuImg('convert', '-f', 'raw', '-O', 'qcow2', '-o', `compat=${compat},cluster_size=${cluster}`, source, f(name));
      fixtures.push({ name, file: f(name) });
    }
  }
  for (const type of ['zlib', 'zstd']) {
    for (const cluster of ['4k', '64k', '2M']) {
      const name = `compressed-${type}-${cluster}.qcow2`;
      qemuImg('convert', '-c', '-f', 'raw', '-O', 'qcow2', '-o', `compression_type=${type},cluster_size=${cluster}`, source, f(name));
      fixtures.push({ name, file: f(name) });
    }
  }
  for (const bits of [1, 2, 4, 8, 16, 32, 64]) {
    const name = `refcount${bits}.qcow2`;
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', '-o', `refcount_bits=${bits}`, source, f(name));
    fixtures.push({ name, file: f(name) });
  }

  // Guest writes through qemu-io: partial clusters, subclusters, zero writes.
  const writes = [
    'write -P 0x11 0 100k',
    'write -P 0x22 300k 7k',
    'write -z 32k 16k',
    'write -P 0x33 1M 64k',
    'write -z 1M 4k',
    'write -P 0x44 4095k 1k',
  ];
  for (const [name, options] of [
    ['io-v3.qcow2', 'compat=1.1'],
    ['io-v2.qcow2', 'compat=0.10'],
    ['extl2-64k.qcow2', 'extended_l2=on'],
    ['extl2-2M.qcow2', 'extended_l2=on,cluster_size=2M'],
    ['lazy.qcow2', 'lazy_refcounts=on'],
  ]) {
    qemuImg('create', '-f', 'qcow2', '-o', options, f(name), '4M');
    qemuIo(f(name), ...writes, 'write -P 0x55 66k 2k', 'write -z 70k 3k');
    fixtures.push({ name, file: f(name) });
  }

  // Backing chains: qcow2 on qcow2 on qcow2, qcow2 on raw, an overlay longer than its backing.
  qemuImg('create', '-f', 'qcow2', f('base.qcow2'), '8M');
  qemuIo(f('base.qcow2'), 'write -P 0xb0 0 3M', 'write -P 0xb1 5M 1M');
  qemuImg('create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', f('mid.qcow2'));
  qemuIo(f('mid.qcow2'), 'write -P 0xc0 1M 1M', 'write -z 2M 512k');
  qemuImg('create', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', f('top.qcow2'), '12M');
  qemuIo(f('top.qcow2'), 'write -P 0xd0 1536k 64k', 'write -z 5M 64k', 'write -P 0xd1 9M 64k');
  fixtures.push({ name: 'chain-depth3', file: f('top.qcow2'), chain: true });
  writeFileSync(f('base.raw'), pattern('text', 3 * MiB + 1000, 3));
  qemuImg('create', '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', f('over-raw.qcow2'), '6M');
  qemuIo(f('over-raw.qcow2'), 'write -P 0xe0 1M 128k');
  fixtures.push({
    name: 'chain-raw-backing',
    file: f('over-raw.qcow2'),
    chain: true,
    mapDiffers: 'raw layer: qemu-img reports holes in the raw file (SEEK_DATA), which neither Node nor the browser can see',
  });
  qemuImg('create', '-f', 'qcow2', '-o', 'compat=0.10', '-b', 'base.qcow2', '-F', 'qcow2', f('v2-over.qcow2'), '10M');
  qemuIo(f('v2-over.qcow2'), 'write -P 0xf0 0 64k', 'write -z 64k 64k');
  fixtures.push({ name: 'chain-v2-overlay', file: f('v2-over.qcow2'), chain: true });

  // Internal snapshots, the image resized and rewritten after them.
  qemuImg('create', '-f', 'qcow2', f('snaps.qcow2'), '4M');
  qemuIo(f('snaps.qcow2'), 'write -P 0x01 0 1M');
  qemuImg('snapshot', '-c', 'first', f('snaps.qcow2'));
  qemuIo(f('snaps.qcow2'), 'write -P 0x02 512k 1M');
  qemuImg('snapshot', '-c', 'second snapshot', f('snaps.qcow2'));
  qemuImg('resize', f('snaps.qcow2'), '6M');
  qemuIo(f('snaps.qcow2'), 'write -P 0x03 5M 64k', 'write -z 0 64k');
  fixtures.push({ name: 'snapshots', file: f('snaps.qcow2'), snapshots: ['first', 'second snapshot', '1'] });

  // External data files.
  // qemu-img 7.2 opens a data file by its stored name from the working directory: store it absolute.
  qemuImg('create', '-f', 'qcow2', '-o', `data_file=${f('data.raw')}`, f('datafile.qcow2'), '4M');
  qemuIo(f('datafile.qcow2'), 'write -P 0x66 64k 256k');
  fixtures.push({ name: 'data-file', file: f('datafile.qcow2') });
  qemuImg('create', '-f', 'qcow2', '-o', `data_file=${f('data2.raw')},data_file_raw=on`, f('datafile-raw.qcow2'), '4M');
  qemuIo(f('datafile-raw.qcow2'), 'write -P 0x67 0 64k');
  fixtures.push({
    name: 'data-file-raw',
    file: f('datafile-raw.qcow2'),
    mapDiffers: 'metadata preallocation: qemu-img asks the file system which mapped clusters are holes',
  });

  for (const mode of ['metadata', 'falloc', 'full']) {
    const name = `prealloc-${mode}.qcow2`;
    qemuImg('create', '-f', 'qcow2', '-o', `preallocation=${mode}`, f(name), '4M');
    qemuIo(f(name), 'write -P 0x77 1M 64k');
    fixtures.push({ name, file: f(name), mapDiffers: 'preallocated clusters: qemu-img asks the file system which of them are holes' });
  }

  qemuImg('create', '-f', 'qcow2', f('odd.qcow2'), '1000001');
  qemuIo(f('odd.qcow2'), 'write -P 0x88 999424 512');
  fixtures.push({ name: 'odd-size', file: f('odd.qcow2') });

  qemuImg('create', '-f', 'qcow2', f('huge.qcow2'), '4T');
  qemuIo(f('huge.qcow2'), 'write -P 0x99 1T 64k');
  fixtures.push({ name: 'sparse-4TiB', file: f('huge.qcow2'), sparse: true });

  qemuImg('create', '-f', 'qcow2', f('bitmaps.qcow2'), '4M');
  qemuIo(f('bitmaps.qcow2'), 'write -P 0xaa 0 64k');
  qemuImg('bitmap', '--add', f('bitmaps.qcow2'), 'b0');
  qemuImg('bitmap', '--add', '-g', '128k', '--disable', f('bitmaps.qcow2'), 'b1');
  fixtures.push({ name: 'bitmaps', file: f('bitmaps.qcow2') });

  fixtures.push({ name: 'raw', file: source });
  return fixtures;
}

let cached: Fixture[] | undefined;

/** The matrix, built once per version of this file (see cachedFixtures). */
export function fixtures(): Fixture[] {
  return (cached ??= cachedFixtures('diskimg-fixtures', import.meta.url, build));
}

export { MiB };
