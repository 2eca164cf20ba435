/**
 * The page in real Chromium: it opens images made by qemu-img, shows what qemu-img info shows,
 * works without the File System Access API, and makes no request beyond its own origin.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ORIGIN } from '../../playwright.config.ts';
import { expect, test, type Page } from '@playwright/test';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-'));
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

function qcow2(name: string, size: string, ...io: string[]): string {
  const file = join(dir, name);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, size]);
  for (const command of io) execFileSync('qemu-io', ['-f', 'qcow2', '-c', command, file], { stdio: 'ignore' });
  return file;
}

function recordRequests(page: Page): string[] {
  const foreign: string[] = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(ORIGIN)) foreign.push(request.url());
  });
  return foreign;
}

test('shows what qemu-img info says about a qcow2, with no request elsewhere', async ({ page }) => {
  const foreign = recordRequests(page);
  const errors: string[] = [];
  page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
  await page.goto('/');
  const file = qcow2('web.qcow2', '64M', 'write -P 0xab 0 1M');
  const expected = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', file], { encoding: 'utf8' }));
  await page.getByLabel('Open disk image').setInputFiles(file);
  await expect(page.getByTestId('format')).toHaveText('qcow2');
  await expect(page.getByTestId('format-kind')).toHaveText('QEMU/KVM disk');
  await expect(page.getByTestId('no-format')).toHaveCount(0);
  await expect(page.getByTestId('virtual-size')).toHaveAttribute('data-bytes', String(expected['virtual-size']));
  expect(foreign).toEqual([]);
  expect(errors).toEqual([]);
});

test('reads anything unrecognised as raw, as qemu-img does', async ({ page }) => {
  await page.goto('/');
  const file = join(dir, 'notes.txt');
  writeFileSync(file, 'not a disk image\n'.repeat(100));
  await page.getByLabel('Open disk image').setInputFiles(file);
  await expect(page.getByTestId('format')).toHaveText('raw');
  await expect(page.getByTestId('virtual-size')).toHaveAttribute('data-bytes', '2048');
  await expect(page.getByTestId('no-format')).toContainText('No disk image format was recognised');
});

test('explains a damaged image: what is wrong, the exact message, and where', async ({ page }) => {
  await page.goto('/');
  const file = qcow2('damaged.qcow2', '1M');
  // Version 9: still qcow2's magic and a version past 1 (qemu reads a version 0 or 1 file as raw or qcow).
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.from([0, 0, 0, 9]), 0, 4, 4);
  closeSync(fd);
  await page.getByLabel('Open disk image').setInputFiles(file);
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('damaged.qcow2: This image uses a feature diskimg does not handle yet');
  await expect(alert).toContainText('Unsupported qcow2 version 9');
  await expect(alert).toContainText('Where: field version · offset 0x4 · value 9');
});

test('works through the plain file input when showOpenFilePicker is missing', async ({ page }) => {
  await page.addInitScript(() => {
    delete (window as { showOpenFilePicker?: unknown }).showOpenFilePicker;
  });
  await page.goto('/');
  expect(await page.evaluate(() => 'showOpenFilePicker' in window)).toBe(false);
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Open a disk image…' }).click();
  await (await chooser).setFiles(qcow2('fallback.qcow2', '2M'));
  await expect(page.getByTestId('virtual-size')).toHaveAttribute('data-bytes', '2097152');
});

test('the Content-Security-Policy blocks any connection to another origin', async ({ page }) => {
  await page.goto('/');
  const outcome = await page.evaluate(async () => {
    try {
      await fetch('https://example.com/');
      return 'fetched';
    } catch (error) {
      return `blocked: ${(error as Error).name}`;
    }
  });
  expect(outcome).toBe('blocked: TypeError');
  const csp = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
  expect(csp).toContain("connect-src 'self'");
});
