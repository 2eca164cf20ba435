/**
 * The progress line as a user reads it: the total is the disk's virtual size from the first
 * moment, no time left is guessed from the first instants, and a cancelled job leaves no
 * "N s left" behind.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { pattern } from '../interop/fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-progress-'));
const image = join(dir, 'sparse.qcow2');

test.beforeAll(() => {
  // 160 MiB of text, random and zero parts, in a 1 GiB disk: the file is far smaller than the disk.
  const raw = join(dir, 'source.img');
  const parts: Buffer[] = [];
  for (let i = 0; i < 160; i++) parts.push(pattern((['text', 'zero', 'random', 'text'] as const)[i % 4], 1 << 20, i + 1));
  writeFileSync(raw, Buffer.concat(parts));
  execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, image]);
  execFileSync('qemu-img', ['resize', '-q', image, '1G']);
});
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

test.beforeEach(async ({ page }) => {
  await page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker);
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(image);
  await expect(page.getByTestId('format')).toHaveText('qcow2');
  await page.getByLabel('Compression').selectOption('zlib');
});

/**
 * Starts recording every text the progress line shows, with the milliseconds since Convert was
 * clicked (taken before the page's own handler runs, so never later than the job's start).
 */
async function recordProgress(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: Array<{ at: number; text: string }> = [];
    (window as unknown as { progressSeen: typeof seen }).progressSeen = seen;
    let clicked = 0;
    document.addEventListener('click', () => (clicked ||= performance.now()), { capture: true });
    const note = () => {
      const text = document.querySelector('[data-testid=progress-text]')?.textContent?.trim();
      if (!text || !clicked) return;
      if (seen.at(-1)?.text !== text) seen.push({ at: performance.now() - clicked, text });
    };
    new MutationObserver(note).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

const recorded = (page: Page) =>
  page.evaluate(() => (window as unknown as { progressSeen: Array<{ at: number; text: string }> }).progressSeen);

test('the total is the virtual size from the start, and no time is guessed in the first second', async ({ page }) => {
  await recordProgress(page);
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Convert' }).click();
  await (await downloading).cancel();
  await expect(page.getByTestId('outcome')).toContainText('was downloaded');
  const seen = await recorded(page);
  expect(seen.length).toBeGreaterThan(2);
  for (const { text } of seen) expect(text).toMatch(/ of 1 GiB \(/);
  // The job lasts long enough to show an estimate at all, and none came before a second had passed.
  expect(seen.some(({ text }) => text.includes(' left'))).toBe(true);
  expect(seen.filter(({ at, text }) => at < 1000 && text.includes(' left'))).toEqual([]);
});

test('after Cancel no time left stays on screen', async ({ page }) => {
  await page.getByRole('button', { name: 'Convert' }).click();
  await expect(page.getByTestId('progress-text')).toContainText(/\d s left/);
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('outcome')).toHaveText('Cancelled: nothing was saved');
  await expect(page.getByText(/ left/)).toHaveCount(0);
});
