// Builds the package's library entries into dist-lib/: esbuild bundles the JavaScript (dependencies
// stay imports, so the consumer's bundler dedupes them; shared code goes into common chunks, so
// `diskimg` and `diskimg/node` hand out one DiskImgError class), tsc writes the declarations.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const OUT = 'dist-lib';
rmSync(OUT, { recursive: true, force: true });

await build({
  entryPoints: { index: 'src/core/index.ts', node: 'src/node/index.ts', browser: 'workers/index.ts' },
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  // Neutral: nothing Node- or browser-specific is assumed; src/node's own `node:` imports stay imports.
  platform: 'neutral',
  target: 'es2022',
  packages: 'external',
  external: ['node:*'],
  chunkNames: 'chunks/[name]-[hash]',
  logLevel: 'warning',
});

execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.lib.json'], { stdio: 'inherit' });

// The sources import each other as './x.ts'; declarations must name './x.js', which a consumer's
// TypeScript maps to './x.d.ts' without allowImportingTsExtensions.
const RELATIVE_TS = /((?:from|import)\s*\(?\s*)(['"])(\.{1,2}\/[^'"]+)\.ts\2/g;
function rewrite(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) rewrite(path);
    else if (entry.name.endsWith('.d.ts')) writeFileSync(path, readFileSync(path, 'utf8').replace(RELATIVE_TS, '$1$2$3.js$2'));
  }
}
rewrite(join(OUT, 'types'));
