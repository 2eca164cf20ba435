/**
 * A running conversion is never left running unseen: opening another file asks first and then
 * cancels it openly (no late download), and closing the tab mid-job asks the browser to warn.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { pattern } from '../interop/fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-jobs-'));
const big = join(dir, 'big.img');
const other = join(dir, 'other.img');

test.beforeAll(() => {
  const parts: Buffer[] = [];
  for (let i = 0; i < 160; i++) parts.push(pattern(i % 2 ? 'random' : 'text', 1 << 20, i + 1));
  writeFileSync(big, Buffer.concat(parts));
  writeFileSync(other, Buffer.alloc(1 << 20, 0x61));
});
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function startConverting(page: Page): Promise<void> {
  await page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker);
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(big);
  await expect(page.getByTestId('format')).toHaveText('raw');
  await page.getByLabel('Compression').selectOption('zlib');
  await page.getByRole('button', { name: 'Convert' }).click();
  await expect(page.getByTestId('progress-text')).toBeVisible();
}

test('opening another file mid-job asks, and on yes cancels the job openly: no download arrives later', async ({ page }) => {
  await startConverting(page);
  const downloads: string[] = [];
  page.on('download', (d) => downloads.push(d.suggestedFilename()));
  const asked: string[] = [];
  page.once('dialog', (dialog) => {
    asked.push(dialog.message());
    void dialog.accept();
  });
  await page.getByLabel('Open disk image').setInputFiles(other);
  await expect(page.getByRole('heading', { name: 'other.img' })).toBeVisible();
  expect(asked).toEqual(['big.img is still being converted. Cancel that conversion and open other.img?']);
  await expect(page.getByTestId('replaced-job')).toHaveText('The conversion of big.img was cancelled; nothing of it was saved.');
  // Long enough for the 160 MiB job to have finished had it gone on running.
  await page.waitForTimeout(8000);
  expect(downloads).toEqual([]);
  const staged = await page.evaluate(async () => {
    const names: string[] = [];
    for await (const name of ((await navigator.storage.getDirectory()) as unknown as { keys(): AsyncIterable<string> }).keys())
      names.push(name);
    return names;
  });
  expect(staged).toEqual([]);
});

test('opening another file mid-job and answering no keeps the job and the image', async ({ page }) => {
  await startConverting(page);
  page.once('dialog', (dialog) => void dialog.dismiss());
  await page.getByLabel('Open disk image').setInputFiles(other);
  await expect(page.getByTestId('outcome')).toContainText('big.qcow2 was downloaded', { timeout: 60_000 });
  await expect(page.getByRole('heading', { name: 'big.img' })).toBeVisible();
});

test('closing the tab mid-job makes the browser warn first', async ({ page }) => {
  await startConverting(page);
  const dialog = page.waitForEvent('dialog');
  await page.close({ runBeforeUnload: true });
  const shown = await dialog;
  expect(shown.type()).toBe('beforeunload');
  await shown.accept();
});
