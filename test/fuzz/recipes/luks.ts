/** Standalone LUKS seeds: a small volume (aes-128, so the key material is ~0.5 MiB), locked while fuzzed. */
import { qemuImg, type RecipeBook } from './tools.ts';

export const luksRecipes: RecipeBook = {
  url: import.meta.url,
  tools: ['qemu-img'],
  recipes: {
    'aes128-cbc-essiv.luks': (f) => {
      qemuImg(
        'create',
        '-q',
        '-f',
        'luks',
        '--object',
        'secret,id=s0,data=fuzz',
        '-o',
        'key-secret=s0,iter-time=10,cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=essiv,hash-alg=sha1',
        f,
        '64k',
      );
    },
  },
};
