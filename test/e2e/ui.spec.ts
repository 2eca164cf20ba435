/**
 * The whole UI in both languages and both colour schemes: every screen (facts, backing chain,
 * allocation map, snapshots, check, a finished conversion) passes axe-core, shows no string of the
 * other language, and works from the keyboard alone.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { en } from '../../src/lib/i18n/en.ts';
import { isoFixtures } from '../interop/iso-fixtures.ts';
import { vi } from '../../src/lib/i18n/vi.ts';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-ui-'));
const base = join(dir, 'base.qcow2');
const top = join(dir, 'top.qcow2');
const MiB = 1 << 20;
const secret = join(dir, 'secret.qcow2');
const SECRET = 'bí mật';

test.beforeAll(() => {
  const io = (file: string, ...commands: string[]) => {
    for (const command of commands) execFileSync('qemu-io', ['-f', 'qcow2', '-c', command, file], { stdio: 'ignore' });
  };
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', base, '64M']);
  io(base, 'write -P 0x11 0 8M', 'write -c -P 0x22 16M 64k');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', top]);
  io(top, 'write -P 0x33 4M 4M', 'write -z 32M 4M');
  execFileSync('qemu-img', ['snapshot', '-c', 'clean install', top]);
  io(top, 'write -P 0x44 60M 1M');
  execFileSync('qemu-img', ['snapshot', '-c', 'after update', top]);
  // An encrypted disk with an MBR and a FAT partition.
  const raw = join(dir, 'plain.raw');
  writeFileSync(raw, Buffer.alloc(16 * MiB));
  execFileSync('sfdisk', ['-q', raw], { input: 'start=2048, type=c\n' });
  for (let attempt = 1; ; attempt++) {
    const made = spawnSync(
      'qemu-img',
      [
        'convert',
        '-q',
        '--object',
        `secret,id=s,data=${SECRET}`,
        '-f',
        'raw',
        '-O',
        'qcow2',
        '-o',
        'encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=50',
        raw,
        secret,
      ],
      { encoding: 'utf8' },
    );
    if (made.status === 0) break;
    if (attempt === 5) throw new Error(made.stderr);
  }
});
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every fixed string of a dictionary (functions are filled in at run time and left out). */
function strings(messages: object): string[] {
  return Object.values(messages).flatMap((value) =>
    typeof value === 'string' ? [value] : typeof value === 'object' ? strings(value) : [],
  );
}

/** Opens the chain, gives its backing file, checks it and converts it: every screen the app has. */
async function visitEveryScreen(page: Page, m: typeof en): Promise<void> {
  await page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker);
  await page.goto('/');
  await page.getByLabel(m.opener.inputLabel).setInputFiles(top);
  await expect(page.getByTestId('chain')).toContainText(m.chain.missing('base.qcow2'));
  await page.getByLabel(m.chain.choose).setInputFiles(base);
  await expect(page.getByTestId('chain')).toContainText(m.chain.layer(1));
  await expect(page.getByTestId('map-legend').locator('[data-class=data]')).toHaveAttribute('data-bytes', String(5 * MiB));
  await page.getByRole('button', { name: m.check.run }).click();
  await expect(page.getByTestId('check-report')).toContainText(m.check.clean);
  await page.getByLabel(m.convert.outputFormat).selectOption('raw');
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: m.convert.button, exact: true }).click();
  await (await downloading).cancel();
  await expect(page.getByTestId('libvirt-disk')).toContainText("type='raw'");
}

/** The other screens: a disc (summary, layout, browser, checksums) and an encrypted image with partitions. */
async function visitDiscAndSecret(page: Page, m: typeof en): Promise<void> {
  await page.goto('/');
  await page.getByLabel(m.opener.inputLabel).setInputFiles(isoFixtures().rich);
  await expect(page.getByTestId('disc-summary')).toBeVisible();
  await page.getByRole('button', { name: m.disc.compute }).click();
  await expect(page.getByTestId('checksums')).toBeVisible();
  await page.getByLabel(m.disc.paste).fill(`${'0'.repeat(64)}  rich.iso`);
  await expect(page.getByTestId('checksum-verdict')).toBeVisible();
  await page.getByRole('button', { name: `${m.disc.open} a` }).click();
  await expect(page.getByTestId('disc-path')).toHaveText('/a');
}

async function visitSecret(page: Page, m: typeof en): Promise<void> {
  await page.goto('/');
  await page.getByLabel(m.opener.inputLabel).setInputFiles(secret);
  await page.getByLabel(m.crypt.label, { exact: true }).fill(SECRET);
  await page.getByRole('button', { name: m.crypt.unlock }).click();
  await expect(page.getByTestId('partitions')).toBeVisible();
  await page.getByLabel(m.crypt.encryptOutput).check();
}

async function expectCleanPage(page: Page, m: typeof en, other: typeof en, lang: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  expect(results.passes.length).toBeGreaterThan(10);
  expect(results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
  await expect(page.locator('html')).toHaveAttribute('lang', lang);
  const text = await page.locator('body').innerText();
  const shared = new Set(strings(m));
  // Phrases only: a lone word such as "file" also occurs in the libvirt XML shown in both languages.
  const foreign = strings(other).filter((s) => !shared.has(s) && s.includes(' ') && text.includes(s));
  expect(foreign).toEqual([]);
  expect(text).not.toMatch(/undefined|\[object /);
}

for (const [lang, m, other, locale] of [
  ['en', en, vi, 'en-US'],
  ['vi', vi, en, 'vi-VN'],
] as const) {
  for (const colorScheme of ['light', 'dark'] as const) {
    test.describe(`${lang}, ${colorScheme}`, () => {
      test.use({ locale, colorScheme });

      test('every screen passes axe-core and shows only this language', async ({ page }) => {
        await visitEveryScreen(page, m);
        await expectCleanPage(page, m, other, lang);
      });

      test('a disc and an encrypted image pass axe-core and show only this language', async ({ page }) => {
        await visitDiscAndSecret(page, m);
        await expectCleanPage(page, m, other, lang);
        await visitSecret(page, m);
        await expectCleanPage(page, m, other, lang);
      });
    });
  }
}

test('the language can be switched and is remembered', async ({ page }) => {
  await page.goto('/');
  await page.getByLabel(en.lang.label).selectOption('vi');
  await expect(page.getByRole('button', { name: vi.opener.button })).toBeVisible();
  await page.reload();
  await expect(page.getByRole('button', { name: vi.opener.button })).toBeVisible();
  await expect(page.locator('html')).toHaveAttribute('lang', 'vi');
});

test.describe('in Vietnamese', () => {
  test.use({ locale: 'vi-VN' });

  test('a damaged image is explained in the page language, with where the fault is', async ({ page }) => {
    const bad = join(dir, 'bad.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', bad, '1M']);
    // cluster_bits (header offset 20) set to 40: QEMU refuses it, and so must we.
    const fd = openSync(bad, 'r+');
    writeSync(fd, Uint8Array.from([0, 0, 0, 40]), 0, 4, 20);
    closeSync(fd);
    await page.goto('/');
    await page.getByLabel(vi.opener.inputLabel).setInputFiles(bad);
    const alert = page.getByRole('alert');
    await expect(alert).toContainText(vi.error.kinds.unsupported);
    await expect(alert).toContainText('Unsupported cluster size: 2^40');
    await expect(alert).toContainText(`${vi.error.field} cluster_bits`);
  });

  test('field names in the "Vị trí" line are Vietnamese (the engine\'s name kept beside), numbers the Vietnamese way', async ({ page }) => {
    const bad = join(dir, 'version.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', bad, '1M']);
    const fd = openSync(bad, 'r+');
    writeSync(fd, Uint8Array.from([0, 0, 0, 9]), 0, 4, 4);
    closeSync(fd);
    await page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker);
    await page.goto('/');
    await page.getByLabel(vi.opener.inputLabel).setInputFiles(bad);
    await expect(page.getByRole('alert')).toContainText(
      `${vi.error.where}: ${vi.error.field} phiên bản (version) · ${vi.error.offset} 0x4 · ${vi.error.value} 9`,
    );
    // A size, a percentage and a byte count in one language's numbers: decimal commas, thousands dots.
    const disk = join(dir, 'numbers.img');
    writeFileSync(disk, Buffer.alloc(51_196_416, 0x61));
    await page.getByLabel(vi.opener.inputLabel).setInputFiles(disk);
    await expect(page.getByTestId('virtual-size')).toHaveText('48,8 MiB (51.196.416 byte)');
    const downloading = page.waitForEvent('download');
    await page.getByRole('button', { name: vi.convert.button, exact: true }).click();
    await (await downloading).cancel();
    await expect(page.getByTestId('progress-text')).toHaveText('48,8 MiB / 48,8 MiB (100,0 %)');
  });
});

test('keyboard only: from an opened image to a finished conversion', async ({ page }) => {
  const raw = join(dir, 'keys.img');
  writeFileSync(raw, Buffer.alloc(4 * MiB, 0x61));
  await page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker);
  await page.goto('/');
  await page.getByLabel(en.opener.inputLabel).setInputFiles(raw);
  await expect(page.getByTestId('format')).toHaveText('raw');
  await page.locator('body').focus();
  // Tab through the page until the Convert button has focus; every control on the way is reachable.
  let reached = false;
  for (let i = 0; i < 40 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement?.textContent?.trim() === 'Convert');
  }
  expect(reached).toBe(true);
  const downloading = page.waitForEvent('download');
  await page.keyboard.press('Enter');
  const saved = join(dir, 'keys.qcow2');
  await (await downloading).saveAs(saved);
  expect(spawnSync('qemu-img', ['compare', raw, saved], { encoding: 'utf8' }).stdout).toBe('Images are identical.\n');
});
