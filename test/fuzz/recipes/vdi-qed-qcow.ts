/** VDI, QED and qcow (v1) seeds: one per feature those readers handle, made by qemu-img and qemu-io. */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { qemuImg, qemuIo, type RecipeBook } from './tools.ts';

/** qemu-img 7.2 exits 1 after a whole compressed qcow conversion (its end-of-stream write is refused). */
function convertCompressedQcow(source: string, file: string): void {
  try {
    qemuImg('convert', '-q', '-c', '-f', 'raw', '-O', 'qcow', source, file);
  } catch {
    execFileSync('qemu-img', ['compare', '-q', '-f', 'qcow', '-F', 'raw', file, source], { stdio: 'ignore' });
  }
}

export const vdiQedQcowRecipes: RecipeBook = {
  url: import.meta.url,
  tools: ['qemu-img', 'qemu-io'],
  recipes: {
    'dynamic.vdi': (f) => {
      qemuImg('create', '-q', '-f', 'vdi', f, '3M');
      qemuIo('vdi', f, 'write -P 1 0 4k', 'write -P 2 2M 4k');
    },
    'static.vdi': (f) => {
      qemuImg('create', '-q', '-f', 'vdi', '-o', 'static=on', f, '2M');
      qemuIo('vdi', f, 'write -P 3 1M 4k');
    },
    'small-tables.qed': (f) => {
      qemuImg('create', '-q', '-f', 'qed', '-o', 'cluster_size=4k,table_size=2', f, '6M');
      qemuIo('qed', f, 'write -P 4 0 8k', 'write -z 64k 8k', 'write -P 5 4M 4k');
    },
    'overlay.qed': (f, dir) => {
      writeFileSync(join(dir, 'base.raw'), Buffer.alloc(1 << 20, 0x33));
      qemuImg('create', '-q', '-f', 'qed', '-o', 'cluster_size=4k,table_size=2', '-b', 'base.raw', '-F', 'raw', f, '2M');
      qemuIo('qed', f, 'write -P 6 4k 4k', 'write -z 8k 4k');
    },
    'plain.qcow': (f) => {
      qemuImg('create', '-q', '-f', 'qcow', f, '2M');
      qemuIo('qcow', f, 'write -P 7 0 8k', 'write -P 8 1M 4k');
    },
    'overlay.qcow': (f, dir) => {
      writeFileSync(join(dir, 'base-qcow.raw'), Buffer.alloc(1 << 20, 0x44));
      qemuImg('create', '-q', '-f', 'qcow', '-b', 'base-qcow.raw', '-F', 'raw', f, '1M');
      qemuIo('qcow', f, 'write -P 9 4k 4k');
    },
    'compressed.qcow': (f, dir) => {
      const source = join(dir, 'text.raw');
      writeFileSync(source, Buffer.from('compressed qcow cluster '.repeat(3000)).subarray(0, 64 * 1024));
      convertCompressedQcow(source, f);
    },
  },
};
