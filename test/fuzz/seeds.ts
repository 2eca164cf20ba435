/**
 * The fuzzer's seeds: small images made by the real qemu-img/qemu-io (and xorriso), one per
 * feature the readers handle, cached in the temp folder. The recipes are in recipes/, a book per format.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedFixtures } from '../support/fixture-cache.ts';
import { RECIPE_BOOKS } from './recipes/index.ts';

export interface Seed {
  name: string;
  bytes: Uint8Array;
  /** Where the mutator aims most of its damage (one picked per mutant), when the recipe said: a `.hot` file beside the seed, an offset a line. */
  hot?: number[];
}

const hasTool = (tool: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** Every seed, made once per machine (qemu-img's version is part of the cache key). */
export function seeds(only?: RegExp): Seed[] {
  const version = execFileSync('qemu-img', ['--version'], { encoding: 'utf8' }).split('\n')[0].replace(/\W+/g, '-');
  const names: string[] = [];
  for (const [book, { url, tools, recipes }] of Object.entries(RECIPE_BOOKS)) {
    if (!tools.every(hasTool)) continue; // a tool missing: the other books still run; .ci/run installs them
    names.push(
      ...cachedFixtures(`diskimg-fuzz-seeds-${book}-${version}`, url, (building) =>
        Object.entries(recipes).map(([name, recipe]) => {
          recipe(join(building, name), building);
          return join(building, name);
        }),
      ),
    );
  }
  return names
    .filter((file) => !only || only.test(file.split('/').pop()!))
    .sort((a, b) => a.split('/').pop()!.localeCompare(b.split('/').pop()!))
    .map((file) => ({
      name: file.split('/').pop()!,
      bytes: new Uint8Array(readFileSync(file)),
      ...(existsSync(`${file}.hot`) ? { hot: readFileSync(`${file}.hot`, 'utf8').trim().split('\n').map(Number) } : {}),
    }));
}
