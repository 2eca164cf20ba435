/**
 * Exporting an internal snapshot: the output is named after the state it holds, the focus goes on
 * to the Convert panel, and snapshots taken a second apart are two dots on the time line.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-snapshots-'));
const image = join(dir, 'snaps.qcow2');

test.beforeAll(async () => {
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '4M']);
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x11 0 1M', image], { stdio: 'ignore' });
  execFileSync('qemu-img', ['snapshot', '-c', 'before upgrade', image]);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x22 0 2M', image], { stdio: 'ignore' });
  execFileSync('qemu-img', ['snapshot', '-c', 'after', image]);
});
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('"Export this state" names the output after the snapshot and moves the focus to Convert', async ({ page }) => {
  await page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker);
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(image);
  await page.getByLabel('Output format').selectOption('raw');
  await page.getByRole('button', { name: 'Export this state: before upgrade' }).click();
  await expect(page.getByLabel('Disk state')).toBeFocused();
  await expect(page.getByLabel('Disk state')).toHaveValue('1');
  await expect(page.getByTestId('command')).toHaveText(
    'qemu-img convert -p -f qcow2 -l snapshot.id=1 -O raw snaps.qcow2 snaps-before-upgrade.raw',
  );
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Convert', exact: true }).click();
  const download = await downloading;
  expect(download.suggestedFilename()).toBe('snaps-before-upgrade.raw');
  const saved = join(dir, 'saved.raw');
  await download.saveAs(saved);
  const expected = join(dir, 'expected.raw');
  execFileSync('qemu-img', ['convert', '-l', 'snapshot.id=1', '-O', 'raw', image, expected]);
  expect(spawnSync('cmp', [saved, expected]).status).toBe(0);
});

test('two snapshots taken a second apart draw as two dots', async ({ page }) => {
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(image);
  const dots = page.getByTestId('snapshot-dot');
  await expect(dots).toHaveCount(2);
  const [a, b] = [await dots.nth(0).boundingBox(), await dots.nth(1).boundingBox()];
  expect(a && b).toBeTruthy();
  // Apart by more than a dot's width: neither hides the other.
  expect(Math.abs(b!.x - a!.x)).toBeGreaterThan(a!.width);
});
