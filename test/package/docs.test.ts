/** The API reference (npm run docs) builds from the three public entries with no warning: every type they expose is documented. */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { scratchDir } from '../support/qemu.ts';

const REPO = resolve(import.meta.dirname, '../..');
const out = scratchDir('diskimg-docs-');
afterAll(() => rmSync(out, { recursive: true, force: true }));

it('typedoc documents diskimg, diskimg/node and diskimg/browser, warnings counted as errors', () => {
  // typedoc.json sets treatWarningsAsErrors: a type reachable from an entry but not exported fails here.
  const log = execFileSync(process.execPath, [join(REPO, 'node_modules/typedoc/bin/typedoc'), '--out', out], {
    cwd: REPO,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 300_000,
  });
  expect(log).not.toMatch(/warning/i);
  for (const page of [
    'index.html',
    'modules/diskimg.html',
    'modules/diskimg_node.html',
    'modules/diskimg_browser.html',
    'functions/diskimg.openImage.html',
  ])
    expect(existsSync(join(out, page)), page).toBe(true);
}, 300_000);
