/** Every recipe book: one per format (a new reader adds its book here). */
import { discRecipes } from './disc.ts';
import { qcow2Recipes } from './qcow2.ts';
import type { RecipeBook } from './tools.ts';
import { vhdxRecipes } from './vhdx.ts';

export const RECIPE_BOOKS: Record<string, RecipeBook> = {
  qcow2: qcow2Recipes,
  disc: discRecipes,
  vhdx: vhdxRecipes,
};
