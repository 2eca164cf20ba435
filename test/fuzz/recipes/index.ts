/** Every recipe book: one per format (a new reader adds its book here). */
import { bochsRecipes } from './bochs.ts';
import { cloopRecipes } from './cloop.ts';
import { codecRecipes } from './codecs.ts';
import { discRecipes } from './disc.ts';
import { dmgRecipes } from './dmg.ts';
import { filesystemRecipes } from './filesystems.ts';
import { luksRecipes } from './luks.ts';
import { ovaRecipes } from './ova.ts';
import { parallelsRecipes } from './parallels.ts';
import { qcow2Recipes } from './qcow2.ts';
import type { RecipeBook } from './tools.ts';
import { vdiQedQcowRecipes } from './vdi-qed-qcow.ts';
import { vmdkRecipes } from './vmdk.ts';
import { vpcRecipes } from './vpc.ts';
import { vhdxRecipes } from './vhdx.ts';

export const RECIPE_BOOKS: Record<string, RecipeBook> = {
  qcow2: qcow2Recipes,
  disc: discRecipes,
  vmdk: vmdkRecipes,
  ova: ovaRecipes,
  vpc: vpcRecipes,
  'vdi-qed-qcow': vdiQedQcowRecipes,
  luks: luksRecipes,
  parallels: parallelsRecipes,
  bochs: bochsRecipes,
  cloop: cloopRecipes,
  dmg: dmgRecipes,
  vhdx: vhdxRecipes,
  filesystems: filesystemRecipes,
  codecs: codecRecipes,
};
