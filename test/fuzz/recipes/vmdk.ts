/**
 * VMDK seeds: a sparse file, zeroed grains, streamOptimized (grain directory in the header and
 * through the footer), descriptor files (their extents resolve to the fuzzer's small raw backing),
 * and a snapshot child. Made by qemu-img and qemu-io.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { footerCopy } from '../../interop/vmdk-fixtures.ts';
import { qemuImg, qemuIo, type RecipeBook } from './tools.ts';

const data = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + (i >> 9)) & 0xff));

export const vmdkRecipes: RecipeBook = {
  url: import.meta.url,
  tools: ['qemu-img', 'qemu-io'],
  recipes: {
    'sparse.vmdk': (f) => {
      qemuImg('create', '-q', '-f', 'vmdk', f, '1M');
      qemuIo('vmdk', f, 'write -P 1 0 4k', 'write -P 2 300k 3k', 'write -z 512k 64k');
    },
    'zeroed-grain.vmdk': (f) => {
      qemuImg('create', '-q', '-f', 'vmdk', '-o', 'zeroed_grain=on', f, '1M');
      qemuIo('vmdk', f, 'write -P 3 0 4k', 'write -z 64k 128k');
    },
    'stream.vmdk': (f, dir) => {
      writeFileSync(join(dir, 'stream.raw'), data(200 * 1024));
      qemuImg('convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', join(dir, 'stream.raw'), f);
    },
    'stream-footer.vmdk': (f, dir) => {
      writeFileSync(join(dir, 'stream2.raw'), data(130 * 1024));
      qemuImg(
        'convert',
        '-q',
        '-f',
        'raw',
        '-O',
        'vmdk',
        '-o',
        'subformat=streamOptimized',
        join(dir, 'stream2.raw'),
        join(dir, 'stream2.vmdk'),
      );
      footerCopy(join(dir, 'stream2.vmdk'), f);
    },
    'flat-descriptor.vmdk': (f, dir) => {
      qemuImg('create', '-q', '-f', 'vmdk', '-o', 'subformat=monolithicFlat', join(dir, 'flat.vmdk'), '1M');
      copyFileSync(join(dir, 'flat.vmdk'), f);
    },
    'split-descriptor.vmdk': (f, dir) => {
      qemuImg('create', '-q', '-f', 'vmdk', '-o', 'subformat=twoGbMaxExtentFlat', join(dir, 'split.vmdk'), '3G');
      copyFileSync(join(dir, 'split.vmdk'), f);
    },
    'child.vmdk': (f, dir) => {
      qemuImg('create', '-q', '-f', 'vmdk', join(dir, 'parent.vmdk'), '1M');
      qemuImg('create', '-q', '-f', 'vmdk', '-b', 'parent.vmdk', '-F', 'vmdk', f);
      qemuIo('vmdk', f, 'write -P 4 64k 4k');
    },
  },
};
