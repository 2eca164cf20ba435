/** qcow2 seeds: one per feature the qcow2 reader handles, made by qemu-img and qemu-io. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { qemuImg, qemuIo, type RecipeBook } from './tools.ts';

export const qcow2Recipes: RecipeBook = {
  url: import.meta.url,
  tools: ['qemu-img', 'qemu-io'],
  recipes: {
    'v3-4k.qcow2': (f) => {
      qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', f, '2M');
      qemuIo('qcow2', f, 'write -P 1 0 12k', 'write -z 64k 8k', 'write -c -P 2 128k 4k', 'write -P 3 1M 4k');
    },
    'v2-4k.qcow2': (f) => {
      qemuImg('create', '-q', '-f', 'qcow2', '-o', 'compat=0.10,cluster_size=4096', f, '1M');
      qemuIo('qcow2', f, 'write -P 4 0 8k', 'write -c -P 5 64k 4k');
    },
    '512b-refcount1.qcow2': (f) => {
      qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=512,refcount_bits=1', f, '256k');
      qemuIo('qcow2', f, 'write -P 6 0 4k', 'write -P 7 100k 1k');
    },
    'refcount64.qcow2': (f) => {
      qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096,refcount_bits=64', f, '1M');
      qemuIo('qcow2', f, 'write -P 8 0 8k');
    },
    'extended-l2.qcow2': (f) => {
      qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=16k,extended_l2=on', f, '1M');
      qemuIo('qcow2', f, 'write -P 9 0 2k', 'write -P 10 5k 1k', 'write -z 8k 4k', 'write -P 11 64k 16k');
    },
    'zstd-4k.qcow2': (f) => {
      qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096,compression_type=zstd', f, '1M');
      qemuIo('qcow2', f, 'write -c -P 12 0 4k', 'write -c -P 13 8k 4k', 'write -P 14 64k 4k');
    },
    'snapshots.qcow2': (f) => {
      qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', f, '1M');
      qemuIo('qcow2', f, 'write -P 15 0 8k');
      qemuImg('snapshot', '-c', 'one', f);
      qemuIo('qcow2', f, 'write -P 16 4k 8k');
      qemuImg('snapshot', '-c', 'two', f);
    },
    'overlay.qcow2': (f, dir) => {
      writeFileSync(join(dir, 'base.raw'), Buffer.alloc(1 << 20, 0x33));
      qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', '-b', 'base.raw', '-F', 'raw', f, '1M');
      qemuIo('qcow2', f, 'write -P 17 4k 4k');
    },
    'bitmaps.qcow2': (f) => {
      qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', f, '1M');
      qemuIo('qcow2', f, 'write -P 18 0 4k');
      qemuImg('bitmap', '--add', f, 'b0');
    },
    'lazy-dirty.qcow2': (f) => {
      qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096,lazy_refcounts=on', f, '1M');
      qemuIo('qcow2', f, 'write -P 19 0 8k');
    },
  },
};
