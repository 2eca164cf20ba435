/**
 * Screenshots of the main screens at 1280 and 390 px, in English and Vietnamese, kept in
 * test-results/screenshots for a person to look at (the run asserts only that each screen drew and
 * that nothing widens the page past the window).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { en } from '../../src/lib/i18n/en.ts';
import { vi } from '../../src/lib/i18n/vi.ts';
import { isoFixtures } from '../interop/iso-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-shots-'));
const out = join('test-results', 'screenshots');
const base = join(dir, 'base.qcow2');
const top = join(dir, 'top.qcow2');

test.beforeAll(() => {
  mkdirSync(out, { recursive: true });
  const io = (file: string, command: string) => execFileSync('qemu-io', ['-f', 'qcow2', '-c', command, file], { stdio: 'ignore' });
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', base, '64M']);
  io(base, 'write -P 0x11 0 8M');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', top]);
  io(top, 'write -P 0x33 4M 4M');
  execFileSync('qemu-img', ['snapshot', '-c', 'clean install', top]);
  io(top, 'write -P 0x44 60M 1M');
  execFileSync('qemu-img', ['snapshot', '-c', 'after update', top]);
  writeFileSync(join(dir, 'notes.txt'), 'not a disk image\n');
});
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function shoot(page: Page, name: string, width: number): Promise<void> {
  // Elements reaching past the screen (a phone would zoom the whole page out to show them).
  const wide = await page.evaluate(
    (screen) =>
      Array.from(document.querySelectorAll('body *'))
        .filter((e) => e.getBoundingClientRect().right > screen + 1 && !e.closest('[data-scrolls], .visually-hidden'))
        .map((e) => `${e.tagName}.${e.className}`)
        .slice(0, 5),
    width,
  );
  expect(wide, `${name}: wider than the screen`).toEqual([]);
  await page.screenshot({ path: join(out, `${name}.png`), fullPage: true });
}

for (const [lang, m, locale] of [
  ['en', en, 'en-US'],
  ['vi', vi, 'vi-VN'],
] as const) {
  for (const width of [1280, 390]) {
    test.describe(`${lang} at ${width} px`, () => {
      test.use({ locale, viewport: { width, height: width > 600 ? 800 : 844 }, hasTouch: width < 600 });

      test('screenshots of the main screens', async ({ page }) => {
        test.setTimeout(60_000);
        await page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker);
        await page.goto('/');
        await expect(page.getByRole('button', { name: m.opener.button })).toBeVisible();
        await shoot(page, `${lang}-${width}-1-first`, width);

        await page.getByLabel(m.opener.inputLabel).setInputFiles([top, base]);
        await expect(page.getByTestId('chain')).toContainText(m.chain.layer(1));
        await expect(page.getByTestId('map-legend')).toBeVisible();
        await page.getByRole('button', { name: `${m.snapshots.export}: clean install` }).click();
        await shoot(page, `${lang}-${width}-2-image`, width);

        await page.getByText(m.convert.command).click();
        const downloading = page.waitForEvent('download');
        await page.getByRole('button', { name: m.convert.button, exact: true }).click();
        await (await downloading).cancel();
        await expect(page.getByTestId('libvirt-disk')).toBeVisible();
        await shoot(page, `${lang}-${width}-3-converted`, width);

        await page.getByLabel(m.opener.inputLabel).setInputFiles(isoFixtures().rich);
        await expect(page.getByTestId('disc-summary')).toBeVisible();
        await expect(page.getByTestId('disc-layout')).toBeVisible();
        await shoot(page, `${lang}-${width}-4-disc`, width);

        await page.getByLabel(m.opener.inputLabel).setInputFiles(join(dir, 'notes.txt'));
        await expect(page.getByTestId('format')).toHaveText('raw');
        await shoot(page, `${lang}-${width}-5-not-an-image`, width);
      });
    });
  }
}
