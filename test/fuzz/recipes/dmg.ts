/** DMG seeds: written as hdiutil lays them out (qemu-img cannot make them): XML plist and resource fork. */
import { dmgImage } from '../../support/dmg-image.ts';
import type { RecipeBook } from './tools.ts';

const text = (sectors: number) => Buffer.from('dmg fuzz seed '.repeat(sectors * 40).slice(0, sectors * 512));

export const dmgRecipes: RecipeBook = {
  url: import.meta.url,
  tools: ['bzip2'],
  recipes: {
    'xml.dmg': (f) => {
      dmgImage(f, {
        partitions: [
          [
            { type: 'zlib', sectors: 8, data: text(8) },
            { type: 'raw', sectors: 2, data: text(2) },
            { type: 'zero', sectors: 30 },
            { type: 'ignore', sectors: 2 },
          ],
          [{ type: 'bzip2', sectors: 8, data: text(8) }],
        ],
      });
    },
    'rsrc.dmg': (f) => {
      dmgImage(f, {
        resourceFork: true,
        partitions: [
          [
            { type: 'zlib', sectors: 16, data: text(16) },
            { type: 'raw', sectors: 1, data: text(1) },
            { type: 'zero', sectors: 20 },
          ],
        ],
      });
    },
  },
};
