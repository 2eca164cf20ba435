/** Parallels seeds, made by qemu-img and written by qemu-io (small clusters so the BAT has entries to spoil). */
import { qemuImg, qemuIo, type RecipeBook } from './tools.ts';

export const parallelsRecipes: RecipeBook = {
  url: import.meta.url,
  tools: ['qemu-img', 'qemu-io'],
  recipes: {
    '4k.hdd': (f) => {
      qemuImg('create', '-q', '-f', 'parallels', '-o', 'cluster_size=4k', f, '256k');
      qemuIo('parallels', f, 'write -P 1 0 8k', 'write -P 2 100k 4k', 'write -z 200k 4k', 'write -P 3 20k 4k');
    },
    '64k.hdd': (f) => {
      qemuImg('create', '-q', '-f', 'parallels', '-o', 'cluster_size=64k', f, '1M');
      qemuIo('parallels', f, 'write -P 4 512 3k', 'write -P 5 512k 64k');
    },
  },
};
