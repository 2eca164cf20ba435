/**
 * A multi-GiB image converts in the page with the renderer's memory bounded, whatever the size:
 * files are read in slices and the output streams to disk. A persistent profile, because an
 * incognito profile keeps OPFS in memory. The memory is read from /proc (every renderer process
 * of this browser: the page and its workers), as the resident set, every 200 ms.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, writeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, expect, test } from '@playwright/test';
import { CHROMIUM_ARGS, ORIGIN } from '../../playwright.config.ts';
import { pattern } from '../interop/fixtures.ts';
import { samplePeak } from '../support/renderer-memory.ts';

const GIB = Number(process.env.DISKIMG_E2E_LARGE_GIB ?? 2);
const LIMIT_MIB = 1024;

test(`converts a ${GIB} GiB disk with the renderer under ${LIMIT_MIB} MiB`, async () => {
  test.setTimeout(600_000);
  const dir = mkdtempSync(join(tmpdir(), 'diskimg-large-'));
  const input = join(dir, 'large.img');
  const fd = openSync(input, 'w');
  const kinds = ['text', 'zero', 'random', 'zero'] as const;
  const chunk = 8 << 20;
  for (let at = 0, i = 0; at < GIB * 2 ** 30; at += chunk, i++) writeSync(fd, pattern(kinds[i % kinds.length], chunk, i + 1), 0, chunk, at);
  closeSync(fd);

  const profile = join(dir, 'profile');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    headless: true,
    acceptDownloads: true,
    baseURL: ORIGIN,
  });
  const sampler = samplePeak(profile);
  try {
    const page = await context.newPage();
    await page.addInitScript(() => {
      delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker;
    });
    await page.goto('/');
    await page.getByLabel('Open disk image').setInputFiles(input);
    await expect(page.getByTestId('virtual-size')).toHaveAttribute('data-bytes', String(GIB * 2 ** 30));
    const downloading = page.waitForEvent('download', { timeout: 500_000 });
    await page.getByRole('button', { name: 'Convert' }).click();
    const download = await downloading;
    const saved = join(dir, 'large.qcow2');
    await download.saveAs(saved);
    const peak = sampler.stop();
    console.log(`peak renderer RSS during a ${GIB} GiB conversion: ${peak.toFixed(0)} MiB`);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(LIMIT_MIB);
    expect(spawnSync('qemu-img', ['check', saved], { encoding: 'utf8' }).stdout).toContain('No errors were found on the image.');
    expect(execFileSync('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', input, saved], { encoding: 'utf8' })).toBe(
      'Images are identical.\n',
    );
  } finally {
    sampler.stop();
    await context.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
