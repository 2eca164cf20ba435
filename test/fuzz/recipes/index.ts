/** Every recipe book: one per format (a new reader adds its book here). */
import { bochsRecipes } from './bochs.ts';
import { cloopRecipes } from './cloop.ts';
import { discRecipes } from './disc.ts';
import { dmgRecipes } from './dmg.ts';
import { luksRecipes } from './luks.ts';
import { parallelsRecipes } from './parallels.ts';
import { qcow2Recipes } from './qcow2.ts';
import type { RecipeBook } from './tools.ts';

export const RECIPE_BOOKS: Record<string, RecipeBook> = {
  qcow2: qcow2Recipes,
  disc: discRecipes,
  luks: luksRecipes,
  parallels: parallelsRecipes,
  bochs: bochsRecipes,
  cloop: cloopRecipes,
  dmg: dmgRecipes,
};
