/** The page on a phone (390 px: nothing widens it), from the keyboard (no invisible tab stop), and the snippet a disc gets. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-phone-'));
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));
test.use({ viewport: { width: 390, height: 844 } });

test('after a conversion the page is no wider than the screen', async ({ page }) => {
  await page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker);
  const file = join(dir, 'a-disk-with-a-rather-long-file-name-for-a-phone.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, '4M']);
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(file);
  await page.getByLabel('Output format').selectOption('raw');
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Convert' }).click();
  await downloading;
  await expect(page.getByTestId('libvirt-disk')).toBeVisible();
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
});

test('the keyboard goes from the open button to the language switch and back, with no invisible stop between', async ({ page }) => {
  await page.goto('/');
  const stops: string[] = [];
  for (let i = 0; i < 4; i++) {
    await page.keyboard.press('Tab');
    stops.push(
      await page.evaluate(() => {
        const el = document.activeElement as HTMLElement;
        const box = el.getBoundingClientRect();
        return `${el.tagName}:${box.width > 2 && box.height > 2 ? 'visible' : 'invisible'}`;
      }),
    );
  }
  expect(stops.filter((s) => s.endsWith('invisible'))).toEqual([]);
});

test('an ISO converted to raw is attached as a read-only CD-ROM, not as a virtio disk', async ({ page }) => {
  await page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker);
  const tree = join(dir, 'disc-tree');
  execFileSync('mkdir', ['-p', tree]);
  execFileSync('sh', ['-c', `echo hello > ${tree}/hello.txt`]);
  const iso = join(dir, 'small.iso');
  execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-o', iso, tree], { stdio: 'ignore' });
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(iso);
  await page.getByLabel('Output format').selectOption('raw');
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Convert' }).click();
  await (await downloading).cancel();
  await expect(page.getByTestId('libvirt-disk')).toContainText("device='cdrom'");
  await expect(page.getByTestId('libvirt-disk')).toContainText('<readonly/>');
});
