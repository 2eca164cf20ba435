/** Disc seeds: ISO 9660 with Rock Ridge, Joliet and El Torito (xorriso), UDF bridge and VAT. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RecipeBook } from './tools.ts';

export const discRecipes: RecipeBook = {
  url: import.meta.url,
  tools: ['xorriso', 'genisoimage', 'mkudffs'],
  recipes: {
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
  },
};
