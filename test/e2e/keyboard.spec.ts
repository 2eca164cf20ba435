/**
 * From the keyboard: no invisible tab stop, a focus ring that shows, and the focus kept on the job
 * (its status, then its result) after Convert and after Cancel instead of dropping to the body.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { pattern } from '../interop/fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-keyboard-'));
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

const focused = (page: Page) =>
  page.evaluate(() => ({
    tag: document.activeElement?.tagName,
    type: (document.activeElement as HTMLInputElement | null)?.type,
    testid: document.activeElement?.getAttribute('data-testid'),
    text: document.activeElement?.textContent?.trim(),
  }));

async function tabTo(page: Page, text: string): Promise<void> {
  await page.locator('body').focus();
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press('Tab');
    if ((await focused(page)).text === text) return;
  }
  throw new Error(`no tab stop reads ${text}`);
}

test.beforeEach(({ page }) => page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker));

test('the hidden file input is no tab stop, and the focus ring is plain to see', async ({ page }) => {
  await page.goto('/');
  await page.locator('body').focus();
  const stops = [];
  for (let i = 0; i < 4; i++) {
    await page.keyboard.press('Tab');
    stops.push(await focused(page));
  }
  expect(stops.filter((s) => s.type === 'file')).toEqual([]);
  await tabTo(page, 'Open a disk image…');
  const ring = await page.evaluate(() => {
    const style = getComputedStyle(document.activeElement!);
    return { width: parseFloat(style.outlineWidth), style: style.outlineStyle };
  });
  expect(ring.style).toBe('solid');
  expect(ring.width).toBeGreaterThanOrEqual(3);
});

test('after Convert the focus is on the job’s status, and stays there for its result', async ({ page }) => {
  const disk = join(dir, 'keys.img');
  writeFileSync(disk, pattern('text', 4 << 20, 3));
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(disk);
  await tabTo(page, 'Convert');
  const downloading = page.waitForEvent('download');
  await page.keyboard.press('Enter');
  await (await downloading).cancel();
  await expect(page.getByTestId('outcome')).toContainText('was downloaded');
  await expect(page.getByTestId('convert-status')).toBeFocused();
});

test('after Cancel the focus is on the status that says it was cancelled', async ({ page }) => {
  const disk = join(dir, 'big.img');
  const parts: Buffer[] = [];
  for (let i = 0; i < 160; i++) parts.push(pattern(i % 2 ? 'random' : 'text', 1 << 20, i + 1));
  writeFileSync(disk, Buffer.concat(parts));
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(disk);
  await page.getByLabel('Compression').selectOption('zlib');
  await tabTo(page, 'Convert');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('convert-status')).toBeFocused();
  // The Cancel button comes just before the status.
  await page.keyboard.press('Shift+Tab');
  expect((await focused(page)).text).toBe('Cancel');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('outcome')).toHaveText('Cancelled: nothing was saved');
  await expect(page.getByTestId('convert-status')).toBeFocused();
});
