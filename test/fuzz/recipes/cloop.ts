/** cloop seeds, made by create_compressed_fs (Debian's cloop-utils). */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RecipeBook } from './tools.ts';

export const cloopRecipes: RecipeBook = {
  url: import.meta.url,
  tools: ['create_compressed_fs'],
  recipes: {
    '16k.cloop': (f, dir) => {
      const input = join(dir, 'cloop-input.raw');
      writeFileSync(
        input,
        Buffer.concat([
          Buffer.from('cloop seed '.repeat(4000)),
          Buffer.alloc(20000),
          Buffer.from([...Array(5000).keys()].map((i) => (i * 7919) & 255)),
        ]),
      );
      execFileSync('create_compressed_fs', ['-q', '-B', '16384', input, f], { stdio: 'ignore' });
    },
  },
};
