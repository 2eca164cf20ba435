/**
 * Rock Ridge in real Chromium: a zisofs file shows its size and how it is stored, and extracts
 * decompressed; devices, FIFOs and sockets are listed by type, not as files.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { discFixtures } from '../interop/iso-disc-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-disc-rr-'));
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fixtures = discFixtures();

async function openDisc(page: Page, iso: string): Promise<void> {
  await page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker);
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(iso);
  await expect(page.getByTestId('disc-summary')).toBeVisible();
}

test('a zisofs file: its real size, how it is stored, and its bytes decompressed', async ({ page }) => {
  await openDisc(page, fixtures.zv1);
  await page.getByRole('button', { name: 'Show details of varied.txt' }).click();
  const details = page.getByTestId('disc-details');
  await expect(details).toContainText('1,048,583 bytes');
  await expect(page.getByTestId('disc-zisofs')).toContainText(/^zisofs: stored compressed, [\d,]+ bytes on the disc/);
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Extract this file' }).click();
  const out = join(dir, 'varied.txt');
  await (await downloading).saveAs(out);
  expect(readFileSync(out).equals(readFileSync(join(fixtures.zsource, 'varied.txt')))).toBe(true);
});

test('devices, a FIFO and a socket are listed by type', async ({ page }) => {
  await openDisc(page, fixtures.devx);
  const list = page.getByTestId('disc-list');
  await expect(list.getByRole('button', { name: 'Show details of disk' })).toContainText('block device');
  await expect(list.getByRole('button', { name: 'Show details of null' })).toContainText('character device');
  await expect(list.getByRole('button', { name: 'Show details of fifo' })).toContainText('FIFO');
  await expect(list.getByRole('button', { name: 'Show details of socket' })).toContainText('socket');
  await list.getByRole('button', { name: 'Show details of nvme' }).click();
  await expect(page.getByTestId('disc-details')).toContainText('259, 70000');
  await expect(page.getByRole('button', { name: 'Extract this file' })).toHaveCount(0);
});
