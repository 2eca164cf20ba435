/**
 * The fuzzer's seeds: small images made by the real qemu-img/qemu-io (and xorriso), one per
 * feature the readers handle, cached in the temp folder.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedFixtures } from '../support/fixture-cache.ts';

export interface Seed {
  name: string;
  bytes: Uint8Array;
}

type Recipe = (file: string, dir: string) => void;

const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { stdio: 'ignore' });
const qemuIo = (file: string, ...commands: string[]) => {
  for (const command of commands) execFileSync('qemu-io', ['-f', 'qcow2', '-c', command, file], { stdio: 'ignore' });
};

const RECIPES: Record<string, Recipe> = {
  'v3-4k.qcow2': (f) => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', f, '2M');
    qemuIo(f, 'write -P 1 0 12k', 'write -z 64k 8k', 'write -c -P 2 128k 4k', 'write -P 3 1M 4k');
  },
  'v2-4k.qcow2': (f) => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'compat=0.10,cluster_size=4096', f, '1M');
    qemuIo(f, 'write -P 4 0 8k', 'write -c -P 5 64k 4k');
  },
  '512b-refcount1.qcow2': (f) => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=512,refcount_bits=1', f, '256k');
    qemuIo(f, 'write -P 6 0 4k', 'write -P 7 100k 1k');
  },
  'refcount64.qcow2': (f) => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096,refcount_bits=64', f, '1M');
    qemuIo(f, 'write -P 8 0 8k');
  },
  'extended-l2.qcow2': (f) => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=16k,extended_l2=on', f, '1M');
    qemuIo(f, 'write -P 9 0 2k', 'write -P 10 5k 1k', 'write -z 8k 4k', 'write -P 11 64k 16k');
  },
  'zstd-4k.qcow2': (f) => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096,compression_type=zstd', f, '1M');
    qemuIo(f, 'write -c -P 12 0 4k', 'write -c -P 13 8k 4k', 'write -P 14 64k 4k');
  },
  'snapshots.qcow2': (f) => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', f, '1M');
    qemuIo(f, 'write -P 15 0 8k');
    qemuImg('snapshot', '-c', 'one', f);
    qemuIo(f, 'write -P 16 4k 8k');
    qemuImg('snapshot', '-c', 'two', f);
  },
  'overlay.qcow2': (f, dir) => {
    writeFileSync(join(dir, 'base.raw'), Buffer.alloc(1 << 20, 0x33));
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', '-b', 'base.raw', '-F', 'raw', f, '1M');
    qemuIo(f, 'write -P 17 4k 4k');
  },
  'bitmaps.qcow2': (f) => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', f, '1M');
    qemuIo(f, 'write -P 18 0 4k');
    qemuImg('bitmap', '--add', f, 'b0');
  },
  'lazy-dirty.qcow2': (f) => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096,lazy_refcounts=on', f, '1M');
    qemuIo(f, 'write -P 19 0 8k');
  },
  'files.iso': (f, dir) => {
    const tree = join(dir, 'iso-tree');
    mkdirSync(join(tree, 'boot', 'deep', 'er'), { recursive: true });
    writeFileSync(join(tree, 'boot', 'loader.bin'), Buffer.alloc(2048, 0x90));
    writeFileSync(join(tree, 'boot', 'deep', 'er', 'Tiếng Việt tên dài.txt'), 'xin chào\n');
    for (let i = 0; i < 20; i++) writeFileSync(join(tree, `file-${i}.txt`), `file ${i}\n`.repeat(i + 1));
    execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-V', 'FUZZ', '-b', 'boot/loader.bin', '-no-emul-boot', '-boot-load-size', '4', '-o', f, tree], { stdio: 'ignore' });
    rmSync(tree, { recursive: true, force: true });
  },
  'udf-bridge.iso': (f, dir) => {
    // UDF 1.02 beside ISO 9660: genisoimage -udf.
    const tree = join(dir, 'udf-tree');
    mkdirSync(join(tree, 'sub', 'deeper'), { recursive: true });
    writeFileSync(join(tree, 'sub', 'deeper', 'Tiếng Việt.txt'), 'xin chào\n');
    for (let i = 0; i < 20; i++) writeFileSync(join(tree, `file-${i}.txt`), `file ${i}\n`.repeat(i * 50 + 1));
    execFileSync('genisoimage', ['-quiet', '-udf', '-R', '-J', '-o', f, tree], { stdio: 'ignore' });
    rmSync(tree, { recursive: true, force: true });
  },
  'udf-vat.iso': (f) => {
    // UDF 2.50 on write-once media: a virtual partition and its VAT (mkudffs, empty).
    execFileSync('mkudffs', ['-m', 'bdr', '-r', '2.50', '--label=FUZZ', f, '1024'], { stdio: 'ignore' });
  },
};

/** Every seed, made once per machine (qemu-img's version is part of the cache key). */
export function seeds(only?: RegExp): Seed[] {
  const version = execFileSync('qemu-img', ['--version'], { encoding: 'utf8' }).split('\n')[0].replace(/\W+/g, '-');
  const names = cachedFixtures(`diskimg-fuzz-seeds-${version}`, import.meta.url, (building) => {
    const made: string[] = [];
    for (const [name, recipe] of Object.entries(RECIPES)) {
      if (name.endsWith('.iso')) {
        try {
          for (const tool of ['xorriso', 'genisoimage', 'mkudffs']) execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
        } catch {
          continue; // a disc tool missing: the qcow2 seeds still run; .ci/run installs them
        }
      }
      recipe(join(building, name), building);
      made.push(join(building, name));
    }
    return made;
  });
  return names
    .filter((file) => !only || only.test(file.split('/').pop()!))
    .sort()
    .map((file) => ({ name: file.split('/').pop()!, bytes: new Uint8Array(readFileSync(file)) }));
}
