/** After one visit the app works offline, and it is installable with file handlers. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';

test('works offline after the first visit', async ({ page, context }) => {
  await page.goto('/');
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  await page.reload();
  expect(await page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);

  await context.setOffline(true);
  await page.reload();
  await expect(page.getByRole('heading', { name: 'diskimg' })).toBeVisible();
  const dir = mkdtempSync(join(tmpdir(), 'diskimg-offline-'));
  const image = join(dir, 'offline.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '3M']);
  await page.getByLabel('Open disk image').setInputFiles(image);
  await expect(page.getByTestId('virtual-size')).toHaveAttribute('data-bytes', '3145728');
  await context.setOffline(false);
  rmSync(dir, { recursive: true, force: true });
});

test('declares a web app manifest that opens disk images', async ({ page, request }) => {
  await page.goto('/');
  const href = await page.locator('link[rel="manifest"]').getAttribute('href');
  const manifest = await (await request.get(new URL(href!, page.url()).href)).json();
  expect(manifest.start_url).toBe('./');
  const extensions = Object.values(manifest.file_handlers[0].accept as Record<string, string[]>).flat();
  expect(extensions).toEqual(expect.arrayContaining(['.qcow2', '.img', '.raw', '.iso']));
  for (const icon of manifest.icons) expect((await request.get(new URL(icon.src, page.url()).href)).ok()).toBe(true);
});
