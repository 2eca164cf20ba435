/**
 * What a first-time user reads and uses around a conversion: the formats named up front, no drop
 * hint on a phone, qcow2's options only for qcow2, copy buttons that copy what is shown, and the
 * result's size beside the input's.
 */
import { statSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { pattern } from '../interop/fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-polish-'));
const source = join(dir, 'disk.img');
test.beforeAll(() => writeFileSync(source, Buffer.concat([pattern('text', 3 << 20, 1), Buffer.alloc(5 << 20)])));
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The page's own rule for sizes (binary units, three significant digits), in English. */
function size(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let unit = 0;
  while (bytes >= 1024 && unit < units.length - 1) {
    bytes /= 1024;
    unit++;
  }
  return `${bytes.toLocaleString('en', unit === 0 ? { maximumFractionDigits: 0 } : { maximumSignificantDigits: 3 })} ${units[unit]}`;
}

test('the first screen names the formats it reads and what it writes', async ({ page }) => {
  await page.goto('/');
  const reads = page.getByTestId('reads');
  for (const name of ['qcow2', 'VMDK', 'VHDX', 'VDI', 'OVA', 'ISO 9660', 'Writes qcow2, raw, VMDK, VHD, VHDX, VDI and OVA'])
    await expect(reads).toContainText(name);
});

test.describe('on a phone', () => {
  test.use({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  test('it is not told to drop files anywhere', async ({ page }) => {
    await page.goto('/');
    await expect(page.getByTestId('drop-hint')).toBeHidden();
    await expect(page.getByTestId('pick-hint')).toBeVisible();
  });
});

test('on a desktop the drop hint is there', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('drop-hint')).toBeVisible();
  await expect(page.getByTestId('pick-hint')).toBeHidden();
});

test('qcow2 options go when raw is chosen, and come back with qcow2', async ({ page }) => {
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(source);
  await expect(page.getByLabel('Compression')).toBeVisible();
  await page.getByLabel('Output format').selectOption('raw');
  for (const label of ['Compression', 'Cluster size', 'Compatibility']) await expect(page.getByLabel(label)).toHaveCount(0);
  await page.getByLabel('Output format').selectOption('qcow2');
  for (const label of ['Compression', 'Cluster size', 'Compatibility']) await expect(page.getByLabel(label)).toBeVisible();
});

test('copy buttons copy the command and the snippet; the result says its size and the input’s', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker);
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(source);
  await page.getByText('Equivalent qemu-img command').click();
  await page.getByRole('button', { name: 'Copy: the qemu-img command' }).click();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('qemu-img convert -p -f raw -O qcow2 disk.img disk.qcow2');
  await expect(page.getByRole('button', { name: 'Copy: the qemu-img command' })).toHaveText('Copied');
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Convert', exact: true }).click();
  const saved = join(dir, 'disk.qcow2');
  await (await downloading).saveAs(saved);
  await expect(page.getByTestId('sizes')).toHaveText(`The new file takes ${size(statSync(saved).size)}; the files opened took 8 MiB.`);
  await page.getByRole('button', { name: 'Copy: the libvirt disk element' }).click();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(await page.getByTestId('libvirt-disk').textContent());
});
