/**
 * Faults while working, in real Chromium: an output that is the input, a source that changes under
 * the page, a full storage quota, two conversions at once, cancel at random moments — each ends
 * with a clear message and no partial file that looks whole. And privacy: from page load to the
 * end of a job, the only requests are for the app's own static files.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ORIGIN } from '../../playwright.config.ts';
import { expect, test, type Page } from '@playwright/test';
import { pattern } from '../interop/fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-faults-'));
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rawSource(name: string, megabytes: number, seed = 1): string {
  const file = join(dir, name);
  const parts: Buffer[] = [];
  for (let i = 0; i < megabytes; i++) parts.push(pattern((['text', 'random', 'zero', 'text'] as const)[i % 4], 1 << 20, seed + i));
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

const noPicker = (page: Page) => page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker);

async function stagedNames(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const names: string[] = [];
    const root = await navigator.storage.getDirectory();
    for await (const name of (root as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
    return names;
  });
}

async function open(page: Page, file: string): Promise<void> {
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(file);
  await expect(page.getByTestId('format')).toBeVisible();
}

test('the input chosen as the output is refused, and the input is left as it was', async ({ page }) => {
  // Both pickers hand out the same OPFS file, as a user picking the input in the save dialog would.
  await page.addInitScript(() => {
    const same = async () => {
      const root = await navigator.storage.getDirectory();
      return root.getFileHandle('disk.img', { create: true });
    };
    Object.assign(window, { showOpenFilePicker: async () => [await same()], showSaveFilePicker: same });
  });
  await page.goto('/');
  await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const writable = await (await root.getFileHandle('disk.img', { create: true })).createWritable();
    await writable.write(new Uint8Array(1 << 20).fill(0x42));
    await writable.close();
  });
  await page.getByRole('button', { name: 'Open a disk image…' }).click();
  await expect(page.getByTestId('format')).toHaveText('raw');
  await page.getByRole('button', { name: 'Convert' }).click();
  await expect(page.getByRole('alert')).toContainText("The output 'disk.img' is the input 'disk.img'");
  const kept = await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const bytes = new Uint8Array(await (await (await root.getFileHandle('disk.img')).getFile()).arrayBuffer());
    return bytes.length === 1 << 20 && bytes.every((b) => b === 0x42);
  });
  expect(kept).toBe(true);
});

test('a source changed on disk after it was opened gives a clear error and no output', async ({ page }) => {
  await noPicker(page);
  const source = rawSource('changing.img', 8);
  await open(page, source);
  writeFileSync(source, Buffer.alloc(1 << 20, 1)); // replaced under the page's feet
  await page.getByRole('button', { name: 'Convert' }).click();
  // The allocation map, still reading when the file changed, may say so too: the conversion's alert is the one checked.
  await expect(page.getByRole('alert').filter({ hasText: 'Conversion failed' })).toContainText(
    'the file changed, moved or was removed after it was opened',
  );
  await expect.poll(() => stagedNames(page)).toEqual([]);
});

test('a full storage quota gives a clear error and leaves nothing staged', async ({ page, context }) => {
  await noPicker(page);
  const source = rawSource('quota.img', 24);
  await open(page, source);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: ORIGIN, quotaSize: 4 << 20 });
  await page.getByRole('button', { name: 'Convert' }).click();
  await expect(page.getByRole('alert')).toContainText(/not enough free space|storage is probably full/);
  await expect.poll(() => stagedNames(page)).toEqual([]);
});

test('staged outputs of earlier visits are removed when the page loads, and each job removes the last one’s', async ({ page }) => {
  await noPicker(page);
  await page.goto('/');
  await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    for (const name of ['diskimg-staged-1-aaaaaa-left.qcow2', 'not-ours.txt']) {
      const writable = await (await root.getFileHandle(name, { create: true })).createWritable();
      await writable.write(new Uint8Array(4096));
      await writable.close();
    }
  });
  await page.reload();
  await expect.poll(() => stagedNames(page)).toEqual(['not-ours.txt']);
  await open(page, rawSource('twice.img', 8));
  const names: string[][] = [];
  for (let job = 0; job < 2; job++) {
    const downloading = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Convert' }).click();
    await downloading;
    await expect(page.getByTestId('outcome')).toHaveText('twice.qcow2 was downloaded');
    names.push((await stagedNames(page)).filter((name) => name.startsWith('diskimg-staged-')));
  }
  // The first job's output is kept until the next job (its download may still be reading it).
  expect(names[0]).toHaveLength(1);
  await expect.poll(async () => (await stagedNames(page)).filter((name) => name !== 'not-ours.txt')).toEqual(names[1]);
  expect(names[1]).not.toEqual(names[0]);
});

test('another tab leaves alone the staged output a tab may still be downloading, until that tab is closed', async ({ context }) => {
  const first = await context.newPage();
  await noPicker(first);
  await open(first, rawSource('kept.img', 8));
  const downloading = first.waitForEvent('download');
  await first.getByRole('button', { name: 'Convert' }).click();
  await downloading;
  const staged = (await stagedNames(first)).filter((name) => name.startsWith('diskimg-staged-'));
  expect(staged).toHaveLength(1);
  // A second tab loads (it sweeps what earlier visits left) and converts (each job sweeps too).
  const second = await context.newPage();
  await noPicker(second);
  await open(second, rawSource('other.img', 8, 50));
  const secondDownloading = second.waitForEvent('download');
  await second.getByRole('button', { name: 'Convert' }).click();
  await secondDownloading;
  await expect(second.getByTestId('outcome')).toHaveText('other.qcow2 was downloaded');
  expect(await stagedNames(second)).toContain(staged[0]);
  // Once the first tab is closed its output is an earlier visit's leftover: the next load removes it.
  await first.close();
  await expect
    .poll(async () => {
      await second.reload();
      return stagedNames(second);
    })
    .not.toContain(staged[0]);
});

test('two conversions at once, in two tabs, both finish whole', async ({ context }) => {
  const pages = [await context.newPage(), await context.newPage()];
  const sources = [rawSource('first.img', 24, 1), rawSource('second.img', 24, 100)];
  for (const page of pages) await noPicker(page);
  for (const [i, page] of pages.entries()) {
    await open(page, sources[i]);
    await page.getByLabel('Compression').selectOption(i === 0 ? 'zlib' : 'zstd');
  }
  const downloads = pages.map((page) => page.waitForEvent('download', { timeout: 60_000 }));
  await Promise.all(pages.map((page) => page.getByRole('button', { name: 'Convert' }).click()));
  for (const [i, downloading] of downloads.entries()) {
    const saved = join(dir, `both-${i}.qcow2`);
    await (await downloading).saveAs(saved);
    expect(spawnSync('qemu-img', ['check', saved], { encoding: 'utf8' }).stdout).toContain('No errors were found on the image.');
    expect(spawnSync('qemu-img', ['compare', sources[i], saved], { encoding: 'utf8' }).stdout).toBe('Images are identical.\n');
  }
});

test('cancel at random moments never leaves a staged or saved file behind', async ({ page }) => {
  // The picker path: a cancelled job must remove the file the user picked, not leave it half written.
  await page.addInitScript(() => {
    (window as unknown as { showSaveFilePicker: unknown }).showSaveFilePicker = async () =>
      (await navigator.storage.getDirectory()).getFileHandle('picked.qcow2', { create: true });
  });
  const source = rawSource('cancel.img', 48);
  await open(page, source);
  await page.getByLabel('Compression').selectOption('zlib');
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let cancelledRounds = 0;
  for (let round = 0; round < 4; round++) {
    await page.getByRole('button', { name: 'Convert' }).click();
    await page.waitForTimeout(Math.floor(random() * 1500));
    // The job may end between any two steps here, even between seeing Cancel and clicking it: then the
    // button is gone, the click gives up, and the outcome says saved and the picked file is there (its
    // bytes are checked by qemu-img in convert.spec.ts, "with a file handle …", not here).
    await page
      .getByRole('button', { name: 'Cancel' })
      .click({ timeout: 1_000 })
      .catch(() => undefined);
    const outcome = page.getByTestId('outcome');
    await expect(outcome).toHaveText(/^(Cancelled: nothing was saved|cancel\.qcow2 was saved)$/);
    if ((await outcome.textContent()) === 'Cancelled: nothing was saved') {
      cancelledRounds++;
      await expect.poll(() => stagedNames(page)).toEqual([]);
    } else {
      const savedBytes = await page.evaluate(async () => {
        const picked = await (await navigator.storage.getDirectory()).getFileHandle('picked.qcow2');
        return (await picked.getFile()).size;
      });
      expect(savedBytes).toBeGreaterThan(0);
      await page.evaluate(async () => (await navigator.storage.getDirectory()).removeEntry('picked.qcow2'));
    }
    await expect(page.getByRole('button', { name: 'Convert' })).toBeEnabled();
  }
  // A Cancel that never cancels would pass every round above as "finished first".
  expect(cancelledRounds).toBeGreaterThan(0);
});

test('from page load to the end of a conversion, only the app’s own files are requested', async ({ page }) => {
  const requests: Array<{ url: string; method: string }> = [];
  page.on('request', (request) => requests.push({ url: request.url(), method: request.method() }));
  page.on('websocket', (socket) => requests.push({ url: socket.url(), method: 'WEBSOCKET' }));
  await noPicker(page);
  const iso = join(dir, 'inspect.iso');
  mkdirForIso(iso);
  await open(page, iso);
  await expect(page.getByTestId('format-kind')).toContainText('ISO 9660');
  const source = rawSource('private.img', 4);
  await page.getByLabel('Open disk image').setInputFiles(source);
  await expect(page.getByTestId('format')).toHaveText('raw');
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Convert' }).click();
  await downloading;
  await expect(page.getByTestId('outcome')).toContainText('was downloaded');
  const foreign = requests.filter((r) => !(r.url.startsWith(`${ORIGIN}/`) || r.url.startsWith('blob:')) || r.method !== 'GET');
  expect(foreign).toEqual([]);
  // Own-origin requests are the app's static files only: nothing carries a user's data.
  const paths = requests.filter((r) => r.url.startsWith(ORIGIN)).map((r) => new URL(r.url).pathname);
  for (const path of paths)
    expect(path).toMatch(/^\/(|index\.html|assets\/[\w.-]+|favicon\.svg|manifest\.webmanifest|icon-192\.png|sw\.js)$/);
});

function mkdirForIso(iso: string): void {
  const tree = join(dir, 'iso-tree');
  execFileSync('mkdir', ['-p', join(tree, 'docs')]);
  writeFileSync(join(tree, 'docs', 'readme.txt'), 'hello from an ISO\n');
  execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-V', 'PRIVATE', '-o', iso, tree], { stdio: 'ignore' });
}

test.describe('an engine worker that cannot start', () => {
  // Every request reaches the network (and so the route below), none the service worker's cache.
  test.use({ serviceWorkers: 'block' });

  test('is reported as such, in place of waiting forever on "Reading…"', async ({ page }) => {
    await page.route(/\/assets\/engine\.worker-[\w-]+\.js$/, (route) => route.fulfill({ status: 404, body: 'gone' }));
    await page.goto('/');
    await page.getByLabel('Open disk image').setInputFiles(rawSource('unstarted.img', 1));
    const alert = page.getByRole('alert');
    await expect(alert).toHaveAttribute('data-kind', 'worker', { timeout: 15_000 });
    await expect(alert).toContainText('could not start its engine');
    await expect(page.getByText('Reading unstarted.img…')).toHaveCount(0);
  });
});
