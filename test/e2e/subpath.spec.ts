/**
 * Static hosting from any sub-path: dist/ served by a plain file server under /tools/disk images/
 * loads, registers its service worker for that folder only, and converts in its workers.
 */
import { createServer, type Server } from 'node:http';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { expect, test } from '@playwright/test';

const PREFIX = '/tools/disk%20images/';
const PORT = 4176;
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.webmanifest': 'application/manifest+json',
};
let server: Server;
const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-subpath-'));

test.beforeAll(async () => {
  const dist = join(import.meta.dirname, '..', '..', 'dist');
  server = createServer((request, response) => {
    const url = new URL(request.url!, `http://127.0.0.1:${PORT}`);
    if (!url.pathname.startsWith(PREFIX)) return void response.writeHead(404).end();
    const relative = normalize(decodeURIComponent(url.pathname.slice(PREFIX.length)) || 'index.html');
    const file = join(dist, relative);
    if (!file.startsWith(dist) || !statSync(file, { throwIfNoEntry: false })?.isFile()) return void response.writeHead(404).end();
    response.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(PORT, '127.0.0.1', resolve));
});
test.afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('works from a sub-path of a plain static server', async ({ page }) => {
  await page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker);
  const missing: string[] = [];
  page.on('response', (response) => response.status() >= 400 && missing.push(response.url()));
  await page.goto(`http://127.0.0.1:${PORT}${PREFIX}`);
  await expect(page.getByRole('heading', { name: 'diskimg' })).toBeVisible();
  const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
  expect(scope).toBe(`http://127.0.0.1:${PORT}${PREFIX}`);
  const source = join(dir, 'sub.img');
  writeFileSync(source, Buffer.alloc(3 << 20, 0x37));
  await page.getByLabel('Open disk image').setInputFiles(source);
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Convert' }).click();
  const saved = join(dir, 'sub.qcow2');
  await (await downloading).saveAs(saved);
  expect(spawnSync('qemu-img', ['compare', source, saved], { encoding: 'utf8' }).stdout).toBe('Images are identical.\n');
  expect(execFileSync('qemu-img', ['check', saved], { encoding: 'utf8' })).toContain('No errors were found');
  expect(missing).toEqual([]);
});
