/**
 * Every optional API the page uses, taken away one at a time as some browser lacks it: the page
 * and its workers must still convert (the output checked by qemu-img) and extract a file from an
 * ISO, never fall to "Something went wrong inside diskimg". Page globals are removed by an init
 * script; the workers' by a prologue put before each worker script as it is served (the service
 * worker is blocked so that every script comes through the route).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { pattern } from '../interop/fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-degrade-'));
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));
test.use({ serviceWorkers: 'block' });

const raw = join(dir, 'disk.img');
writeFileSync(raw, Buffer.concat([0, 1, 2, 3].map((i) => pattern((['text', 'zero', 'random', 'text'] as const)[i], 1 << 20, i + 1))));
const iso = join(dir, 'disc.iso');
mkdirSync(join(dir, 'content', 'docs'), { recursive: true });
writeFileSync(join(dir, 'content', 'docs', 'readme.txt'), 'hello from the disc\n');
execFileSync('genisoimage', ['-quiet', '-R', '-J', '-V', 'DEGRADE', '-o', iso, join(dir, 'content')]);

interface Missing {
  api: string;
  /** Run in the page before its scripts. */
  page?: string;
  /** Run in every worker before its module body. */
  worker?: string;
}

const MISSING: Missing[] = [
  { api: 'showOpenFilePicker', page: 'delete window.showOpenFilePicker;' },
  { api: 'showSaveFilePicker', page: 'delete window.showSaveFilePicker;' },
  {
    api: 'service workers',
    page: "Object.defineProperty(Navigator.prototype, 'serviceWorker', { get: () => undefined }); delete window.showSaveFilePicker;",
  },
  {
    api: 'Web Locks',
    page: "Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined }); delete window.showSaveFilePicker;",
  },
  {
    api: 'storage.estimate',
    page: 'delete StorageManager.prototype.estimate; delete window.showSaveFilePicker;',
    worker: 'delete StorageManager.prototype.estimate;',
  },
  {
    api: 'OPFS (navigator.storage.getDirectory)',
    page: 'delete StorageManager.prototype.getDirectory; delete window.showSaveFilePicker;',
    worker: 'delete StorageManager.prototype.getDirectory;',
  },
  {
    api: 'BYOB readers',
    worker: `const getReader = ReadableStream.prototype.getReader;
      ReadableStream.prototype.getReader = function (options) {
        if (options && options.mode === 'byob') throw new TypeError('byob readers are not supported here');
        return getReader.call(this, options);
      };`,
  },
  {
    api: 'WebAssembly streaming compilation',
    worker: 'delete WebAssembly.compileStreaming; delete WebAssembly.instantiateStreaming;',
  },
];

/** Takes the API away; returns the worker scripts that were served with the prologue. */
async function takeAway(page: Page, missing: Missing): Promise<string[]> {
  const patched: string[] = [];
  if (missing.page) await page.addInitScript(missing.page);
  if (missing.worker) {
    const prologue = missing.worker;
    await page.route(/\/assets\/[\w.-]*worker[\w.-]*\.js$/, async (route) => {
      const response = await route.fetch();
      patched.push(new URL(route.request().url()).pathname);
      await route.fulfill({ response, body: `${prologue}\n${await response.text()}` });
    });
  }
  return patched;
}

/**
 * Clicks, waits for the `done` status and returns what the page saved: the download's bytes where
 * the save picker is missing, else the file the picker handed out (a handle in OPFS under the
 * suggested name, as a user's pick would be).
 */
async function saved(page: Page, missing: Missing, done: string, click: () => Promise<void>): Promise<Buffer> {
  if (missing.page?.includes('showSaveFilePicker')) {
    const downloading = page.waitForEvent('download');
    await click();
    const file = join(dir, `download-${Date.now()}`);
    await (await downloading).saveAs(file);
    await expect(page.getByTestId(done)).toBeVisible();
    return readFileSync(file);
  }
  await page.evaluate(() => {
    const w = window as unknown as {
      picked?: string;
      showSaveFilePicker: (o?: { suggestedName?: string }) => Promise<FileSystemFileHandle>;
    };
    w.showSaveFilePicker = async (options) => {
      w.picked = options?.suggestedName ?? 'picked';
      return (await navigator.storage.getDirectory()).getFileHandle(w.picked, { create: true });
    };
  });
  await click();
  await expect(page.getByTestId(done)).toBeVisible({ timeout: 60_000 });
  // As a data: URL: an array of numbers would cross the protocol as JSON, a minute for 4 MiB.
  const url = await page.evaluate(async () => {
    const name = (window as unknown as { picked: string }).picked;
    const file = await (await (await navigator.storage.getDirectory()).getFileHandle(name)).getFile();
    return new Promise<string>((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result as string);
      reader.readAsDataURL(file);
    });
  });
  return Buffer.from(url.slice(url.indexOf(',') + 1), 'base64');
}

for (const missing of MISSING) {
  test(`without ${missing.api}, a conversion and an extraction still work`, async ({ page }) => {
    const patched = await takeAway(page, missing);
    await page.goto('/');
    await page.getByLabel('Open disk image').setInputFiles(raw);
    await expect(page.getByTestId('format')).toBeVisible();
    await page.getByLabel('Output format').selectOption('qcow2');
    await page.getByLabel('Compression').selectOption('zstd');

    const output = join(dir, `${missing.api.replace(/\W+/g, '-')}.qcow2`);
    writeFileSync(output, await saved(page, missing, 'outcome', () => page.getByRole('button', { name: 'Convert' }).click()));
    await expect(page.getByTestId('outcome')).toContainText(/was (downloaded|saved)/);
    // Off the first rung, the page says in a sentence which way the output took, and why.
    if (missing.page?.includes('showSaveFilePicker')) await expect(page.getByTestId('route')).toContainText(/\w+ \w+ \w+/);
    expect(spawnSync('qemu-img', ['check', output], { encoding: 'utf8' }).stdout).toContain('No errors were found on the image.');
    expect(spawnSync('qemu-img', ['compare', raw, output], { encoding: 'utf8' }).stdout).toBe('Images are identical.\n');

    await page.getByLabel('Open disk image').setInputFiles(iso);
    await expect(page.getByTestId('disc-label')).toHaveText('DEGRADE');
    await page.getByRole('button', { name: /Open folder docs/ }).click();
    await page.getByRole('button', { name: /Show details of readme.txt/ }).click();
    const extracted = await saved(page, missing, 'extracted', () => page.getByRole('button', { name: 'Extract this file' }).click());
    expect(extracted.toString('utf8')).toBe('hello from the disc\n');
    await expect(page.getByText('Something went wrong inside diskimg')).toHaveCount(0);
    // The workers really ran without it: the engine's and the disc's scripts came through the route.
    if (missing.worker) expect(patched.join(' ')).toMatch(/engine\.worker.*disc\.worker|disc\.worker.*engine\.worker/);
  });
}

/** A helper worker's script that fails as it loads (blocked, or broken in this browser). */
async function breakWorker(page: Page, name: 'codec' | 'hash'): Promise<string[]> {
  const broken: string[] = [];
  await page.route(new RegExp(`/assets/${name}\\.worker[\\w.-]*\\.js$`), async (route) => {
    broken.push(new URL(route.request().url()).pathname);
    await route.fulfill({ contentType: 'text/javascript', body: 'throw new Error("this worker does not start here");' });
  });
  return broken;
}

test('without codec workers, a compressed conversion says so and a plain one still works', async ({ page }) => {
  const broken = await breakWorker(page, 'codec');
  // The output is downloaded (headless Chromium cannot show the save picker).
  await page.addInitScript('delete window.showSaveFilePicker;');
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(raw);
  await expect(page.getByTestId('format')).toBeVisible();
  await page.getByLabel('Output format').selectOption('qcow2');
  await page.getByLabel('Compression').selectOption('zlib');
  await page.getByRole('button', { name: 'Convert' }).click();
  await expect(page.getByRole('alert')).toContainText('No compression worker would start in this browser');
  expect(broken.length).toBeGreaterThan(0);
  await page.getByLabel('Compression').selectOption('none');
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Convert' }).click();
  const output = join(dir, 'no-compression-workers.qcow2');
  await (await downloading).saveAs(output);
  await expect(page.getByTestId('outcome')).toContainText('was downloaded');
  expect(spawnSync('qemu-img', ['compare', raw, output], { encoding: 'utf8' }).stdout).toBe('Images are identical.\n');
});

test('without a hashing worker, checksums are computed on the disc worker, and match sha256sum', async ({ page }) => {
  const broken = await breakWorker(page, 'hash');
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(iso);
  await expect(page.getByTestId('disc-label')).toHaveText('DEGRADE');
  await page.getByRole('button', { name: 'Compute SHA-256', exact: true }).click();
  const expected = execFileSync('sha256sum', [iso], { encoding: 'utf8' }).split(' ')[0];
  await expect(page.getByTestId('checksums')).toContainText(expected);
  expect(broken.length).toBeGreaterThan(0);
});
