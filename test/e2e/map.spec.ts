/**
 * The allocation map in real Chromium: zooming finds 64 KiB of data on a 4 TiB sparse disk, and
 * the part of a chain left to a backing file not given yet is shown as such, not as zeros. A
 * backing file dropped on the page joins the image that asks for it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-map-'));
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));
const run = (tool: string, ...args: string[]) => execFileSync(tool, args, { stdio: 'ignore', cwd: dir });
const TiB = 2 ** 40;

const legend = (page: Page, c: string) => page.getByTestId('map-legend').locator(`[data-class=${c}]`);

/** Drops files on the page as a person would, through a real DataTransfer. */
async function drop(page: Page, files: Array<{ name: string; path: string }>): Promise<void> {
  const list = files.map((f) => ({ name: f.name, base64: readFileSync(f.path).toString('base64') }));
  const transfer = await page.evaluateHandle((items) => {
    const dt = new DataTransfer();
    for (const f of items) dt.items.add(new File([Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0))], f.name));
    return dt;
  }, list);
  await page.dispatchEvent('main', 'drop', { dataTransfer: transfer });
}

test('zoom narrows the map around the data, and the whole disk comes back', async ({ page }) => {
  const file = join(dir, 'sparse4t.qcow2');
  run('qemu-img', 'create', '-q', '-f', 'qcow2', file, '4T');
  run('qemu-io', '-f', 'qcow2', '-c', `write -P 7 ${TiB} 64k`, file);
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(file);
  const axis = page.locator('.axis');
  await expect(legend(page, 'data')).toHaveAttribute('data-bytes', '65536');
  await expect(page.getByRole('button', { name: 'Whole disk' })).toBeDisabled();
  const whole = await axis.textContent();
  await page.getByRole('button', { name: 'Zoom in' }).click();
  await expect(page.getByRole('button', { name: 'Whole disk' })).toBeEnabled();
  await expect(axis).not.toHaveText(whole!);
  // The middle eighth of 4 TiB starts at 1.75 TiB: past the data at 1 TiB.
  await expect(legend(page, 'data')).toHaveAttribute('data-bytes', '0');
  await page.getByRole('button', { name: 'Zoom out' }).click();
  await expect(legend(page, 'data')).toHaveAttribute('data-bytes', '65536');
  // Clicking at a quarter of the bar zooms around 1 TiB, where the data is.
  const box = (await page.getByTestId('allocation-map').boundingBox())!;
  await page.getByTestId('allocation-map').click({ position: { x: box.width / 4, y: box.height / 2 } });
  await expect(axis).not.toHaveText(whole!);
  await expect(legend(page, 'data')).toHaveAttribute('data-bytes', '65536');
  await page.getByRole('button', { name: 'Whole disk' }).click();
  await expect(axis).toHaveText(whole!);
});

test('what a missing backing file holds is not called zeros; dropped on the page, the file joins the overlay', async ({ page }) => {
  const base = join(dir, 'map-base.raw');
  run('qemu-img', 'create', '-q', '-f', 'raw', base, '1M');
  run('qemu-io', '-f', 'raw', '-c', 'write -P 9 0 1M', base);
  const overlay = join(dir, 'map-top.qcow2');
  run('qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'map-base.raw', '-F', 'raw', overlay);
  run('qemu-io', '-f', 'qcow2', '-c', 'write -P 1 0 256k', overlay);
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(overlay);
  await expect(legend(page, 'missing')).toHaveAttribute('data-bytes', String(768 * 1024));
  await expect(legend(page, 'missing')).toContainText('in a backing file not chosen yet');
  await expect(legend(page, 'unallocated')).toHaveAttribute('data-bytes', '0');

  await drop(page, [{ name: 'map-base.raw', path: base }]);
  await expect(page.getByRole('heading', { name: 'map-top.qcow2' })).toBeVisible();
  await expect(page.getByTestId('chain').locator('li')).toHaveCount(2);
  await expect(legend(page, 'backing')).toHaveAttribute('data-bytes', String(768 * 1024));
  await expect(legend(page, 'missing')).toHaveCount(0);
});
