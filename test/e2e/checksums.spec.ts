/**
 * Checksums for every image (a disk as much as a disc), the paste box there before computing, a
 * checksum listed under another name said so; and the disc layout gives every kind its own colour.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { isoFixtures } from '../interop/iso-fixtures.ts';
import { pattern } from '../interop/fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-checksums-'));
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('a disk image gets checksums; the paste box waits from the start; a hash listed under another name says so', async ({ page }) => {
  const disk = join(dir, 'renamed.img');
  writeFileSync(disk, pattern('text', 3 << 20, 9));
  const sha256 = createHash('sha256').update(readFileSync(disk)).digest('hex');
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(disk);
  await expect(page.getByTestId('format')).toHaveText('raw');
  const paste = page.getByLabel('Paste the SHA256SUMS file (or one line of it) that came with the image');
  await expect(paste).toBeVisible();
  await paste.fill(`${'0'.repeat(64)}  other.img\n${sha256}  original.img\n`);
  await expect(page.getByTestId('checksum-pending')).toHaveText('Compute the checksums above to check the file against this text.');
  await page.getByRole('button', { name: 'Compute SHA-256', exact: true }).click();
  await expect(page.locator('[data-hash=sha256]')).toHaveText(sha256);
  await expect(page.getByTestId('checksum-verdict')).toHaveText(
    'The SHA-256 checksum matches original.img in the list: renamed.img is that file under another name.',
  );
  await expect(page.getByTestId('checksum-verdict')).toHaveAttribute('data-status', 'listed-as');
});

test('a disc: the paste box is there before computing, and each part of the layout has its own colour', async ({ page }) => {
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(isoFixtures().rich);
  await expect(page.getByTestId('disc-summary')).toBeVisible();
  await expect(page.getByLabel('Paste the SHA256SUMS file (or one line of it) that came with the image')).toBeVisible();
  const legend = page.locator('.legend li[data-kind]');
  await expect(legend.first()).toBeVisible();
  const kinds = await legend.evaluateAll((items) => items.map((li) => li.getAttribute('data-kind')));
  for (const kind of ['descriptors', 'path-tables', 'boot-catalog', 'boot-image']) expect(kinds).toContain(kind);
  const colours = await legend.evaluateAll((items) => items.map((li) => getComputedStyle(li.querySelector('.swatch')!).backgroundColor));
  expect(new Set(colours).size).toBe(colours.length);
});
