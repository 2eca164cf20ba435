/** Every recipe book: one per format (a new reader adds its book here). */
import { discRecipes } from './disc.ts';
import { ovaRecipes } from './ova.ts';
import { qcow2Recipes } from './qcow2.ts';
import type { RecipeBook } from './tools.ts';
import { vmdkRecipes } from './vmdk.ts';

export const RECIPE_BOOKS: Record<string, RecipeBook> = {
  qcow2: qcow2Recipes,
  disc: discRecipes,
  vmdk: vmdkRecipes,
  ova: ovaRecipes,
};
