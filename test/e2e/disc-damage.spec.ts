/**
 * A damaged disc in real Chromium: every part that can be read still shows, and the damage is
 * named where it is. A boot catalog with duplicate and invalid entries, and a truncated image.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { Disc } from '../../src/core/iso/disc.ts';
import { NodeFileStorage } from '../../src/node/file-storage.ts';
import { discFixtures } from '../interop/iso-disc-fixtures.ts';
import { isoFixtures } from '../interop/iso-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-disc-damage-'));
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fixtures = discFixtures();

/** The boot disc with its catalog's last section grown to 4 entries: the UEFI entry twice more, then one with an invalid media type aimed past the end. */
function damagedCatalog(): string {
  const file = join(dir, 'damaged-catalog.iso');
  const d = readFileSync(fixtures.boot);
  const catalog = d.readUInt32LE(17 * 2048 + 71) * 2048;
  d[catalog + 66] = 4;
  d.copy(d, catalog + 128, catalog + 96, catalog + 128);
  d.copy(d, catalog + 160, catalog + 96, catalog + 128);
  const invalid = Buffer.alloc(32);
  invalid[0] = 0x88;
  invalid[1] = 0x0f;
  invalid.writeUInt16LE(4, 6);
  invalid.writeUInt32LE(0x7fffffff, 8);
  invalid.copy(d, catalog + 192);
  writeFileSync(file, d);
  return file;
}

async function openDisc(page: Page, iso: string, errors: string[]): Promise<void> {
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  await page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker);
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(iso);
  await expect(page.getByTestId('disc-summary')).toBeVisible();
}

test('a boot catalog with duplicate and invalid entries: summary, layout and files all show, the damage is named', async ({ page }) => {
  const errors: string[] = [];
  await openDisc(page, damagedCatalog(), errors);
  await expect(page.getByTestId('disc-label')).toHaveText('BOOT_DISC');
  await expect(page.getByTestId('disc-boots')).toContainText('BIOS + UEFI');
  await expect(page.getByTestId('disc-boot-warnings')).toContainText('duplicate');
  await expect(page.getByTestId('disc-boot-warnings')).toContainText('past the end');
  await expect(page.getByTestId('disc-layout')).toBeVisible();
  await page.getByRole('button', { name: 'Open folder docs' }).click();
  await expect(page.getByTestId('disc-path')).toHaveText('/docs');
  await expect(page.getByRole('button', { name: 'Show details of note-0.txt' })).toBeAttached();
  expect(errors.filter((e) => /each_key_duplicate|Uncaught|TypeError/.test(e))).toEqual([]);
});

test('a disc whose MBR and GPT both have a partition 1 (xorriso -appended_part_as_gpt) shows whole', async ({ page }) => {
  const errors: string[] = [];
  await openDisc(page, isoFixtures().gpt, errors);
  await expect(page.getByTestId('disc-label')).toHaveText('GPT_DISC');
  await expect(page.getByTestId('disc-summary')).toContainText('EFI System');
  await expect(page.getByTestId('disc-list')).toBeVisible();
  expect(errors.filter((e) => /each_key_duplicate|Uncaught|TypeError/.test(e))).toEqual([]);
});

test('a truncated image says how much is missing and which files lose data', async ({ page }) => {
  // Cut in the middle of the notes: the later ones lose their data.
  const storage = await NodeFileStorage.open(fixtures.boot);
  const disc = await Disc.open(storage);
  const note = await disc.resolve('/docs/note-10.txt');
  const volume = disc.primary!.volumeSpaceSize * 2048;
  await storage.close();
  const file = join(dir, 'cut.iso');
  copyFileSync(fixtures.boot, file);
  truncateSync(file, note.extents[0].offset);
  const errors: string[] = [];
  await openDisc(page, file, errors);
  const warning = page.getByTestId('disc-truncated');
  await expect(warning).toContainText(`(${(volume - note.extents[0].offset).toLocaleString('en')} bytes) of the disc are missing`);
  await expect(warning).toContainText('/docs/note-10.txt');
  await expect(page.getByTestId('disc-layout')).toBeVisible();
});
