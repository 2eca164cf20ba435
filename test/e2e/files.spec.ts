/**
 * Images made of several files, in real Chromium: opened together (in any order) the page finds
 * which file is the image; a file the image names and the user did not give is asked for.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-files-'));
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (tool: string, ...args: string[]) => execFileSync(tool, args, { stdio: 'ignore', cwd: dir });

test.beforeEach(async ({ page }) => {
  await page.addInitScript(() => {
    delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker;
  });
});

test('an overlay and its backing file opened together, base first: the overlay is the image', async ({ page }) => {
  const base = join(dir, 'together-base.qcow2');
  const overlay = join(dir, 'together-top.qcow2');
  run('qemu-img', 'create', '-q', '-f', 'qcow2', base, '4M');
  run('qemu-io', '-f', 'qcow2', '-c', 'write -P 0x11 0 1M', base);
  run('qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'together-base.qcow2', '-F', 'qcow2', overlay);
  run('qemu-io', '-f', 'qcow2', '-c', 'write -P 0x22 512k 1M', overlay);
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles([base, overlay]);
  await expect(page.getByRole('heading', { name: 'together-top.qcow2' })).toBeVisible();
  const chain = page.getByTestId('chain');
  await expect(chain.locator('li')).toHaveCount(2);
  await expect(chain).not.toContainText('not chosen yet');

  await page.getByLabel('Output format').selectOption('raw');
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Convert' }).click();
  const saved = join(dir, 'together.raw');
  await (await downloading).saveAs(saved);
  expect(spawnSync('qemu-img', ['compare', '-F', 'raw', overlay, saved], { encoding: 'utf8' }).stdout).toBe('Images are identical.\n');
});

test('a data file the image names is asked for, and once given the image opens', async ({ page }) => {
  const image = join(dir, 'external.qcow2');
  run('qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'data_file=external.data', image, '2M');
  run('qemu-io', '-f', 'qcow2', '-c', 'write -P 0x33 0 64k', image);
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(image);
  await expect(page.getByRole('alert')).toContainText('external.data');
  await expect(page.getByTestId('missing-files')).toContainText('external.data');
  await page.getByLabel('Choose the missing files').setInputFiles(join(dir, 'external.data'));
  await expect(page.getByTestId('format')).toHaveText('qcow2');
  await expect(page.getByRole('alert')).toHaveCount(0);
});
