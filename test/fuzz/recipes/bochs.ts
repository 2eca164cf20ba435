/** Bochs seeds: written as bximage lays them out (qemu-img cannot make them). */
import { bochsImage } from '../../support/bochs-image.ts';
import type { RecipeBook } from './tools.ts';

export const bochsRecipes: RecipeBook = {
  url: import.meta.url,
  tools: [],
  recipes: {
    'v2-4k.bochs': (f) =>
      bochsImage(f, {
        version: 2,
        diskBytes: 256 << 10,
        extentBytes: 4096,
        sectors: new Map([
          [0, 1],
          [1, 2],
          [9, 3],
          [300, 4],
        ]),
        order: [37, 0, 1],
      }),
    'v1-64k.bochs': (f) =>
      bochsImage(f, {
        version: 1,
        diskBytes: 512 << 10,
        extentBytes: 65536,
        sectors: new Map([
          [3, 5],
          [130, 6],
        ]),
      }),
  },
};
