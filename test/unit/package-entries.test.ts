/**
 * The package's promises that need no packing: the main entry (the engine) bundles for a
 * platform that is neither Node nor a browser, dependencies included, so nothing in it imports a
 * Node module or touches the DOM at load; and README's CLI synopsis is the one `--help` prints.
 */
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { resolve } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';

const REPO = resolve(import.meta.dirname, '../..');

describe('the platform-free entry', () => {
  it('bundles with --platform=neutral, its dependencies too, and imports no Node module', async () => {
    const result = await build({
      entryPoints: [resolve(REPO, 'src/core/index.ts')],
      bundle: true,
      platform: 'neutral',
      mainFields: ['module', 'main'],
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const imports = Object.values(result.metafile.inputs).flatMap((input) => input.imports.map((i) => i.path));
    const builtins = new Set([...builtinModules, ...builtinModules.map((name) => `node:${name}`)]);
    expect(imports.filter((path) => builtins.has(path) || path.startsWith('node:'))).toEqual([]);
    expect(result.outputFiles[0].text).toMatch(/function openImage\(/);
  });

  it('an entry that imports a Node module fails that check (the check can fail)', async () => {
    const failing = build({
      entryPoints: [resolve(REPO, 'src/node/index.ts')],
      bundle: true,
      platform: 'neutral',
      mainFields: ['module', 'main'],
      format: 'esm',
      write: false,
      logLevel: 'silent',
    });
    await expect(failing).rejects.toThrow(/node:/);
  });
});

describe("README's CLI synopsis", () => {
  it('is the command syntax --help prints, one line per command (iso: per subcommand)', async () => {
    let help = '';
    await main(['--help'], { stdout: (s) => void (help += s), stderr: () => {} });
    const syntax = help.split('Command syntax:\n')[1].split('\n\n')[0].split('\n');
    // A command with subcommands lists them on one line, each starting with the command's name again.
    const expected = syntax
      .flatMap((line) => line.trim().split(new RegExp(` \\| (?=${line.trim().split(' ')[0]} )`)))
      .map((line) => `npx diskimg ${line}`);
    const readme = readFileSync(resolve(REPO, 'README.md'), 'utf8');
    const block = readme.split('## CLI')[1].split('```sh\n')[1].split('```')[0];
    expect(block.trimEnd().split('\n')).toEqual(expected);
  });
});
