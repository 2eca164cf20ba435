/**
 * Converting in real Chromium, through the UI: both output paths (a file handle as the save
 * picker gives, and a download where the picker is missing), checked by qemu-img; a backing
 * chain; cancel; and no request to anything but the page's own origin.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ORIGIN } from '../../playwright.config.ts';
import { expect, test, type Page } from '@playwright/test';
import { pattern } from '../interop/fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-convert-'));
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

const qemu = (...args: string[]) => spawnSync('qemu-img', args, { encoding: 'utf8' });

function rawSource(name: string, megabytes: number): string {
  const file = join(dir, name);
  const parts: Buffer[] = [];
  for (let i = 0; i < megabytes; i++) parts.push(pattern((['text', 'zero', 'random', 'text'] as const)[i % 4], 1 << 20, i + 1));
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

async function noPicker(page: Page): Promise<void> {
  await page.addInitScript(() => {
    delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker;
  });
}

async function openImage(page: Page, file: string): Promise<void> {
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(file);
  await expect(page.getByTestId('format')).toBeVisible();
}

async function convertByDownload(page: Page, output: string): Promise<string> {
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Convert' }).click();
  const download = await downloading;
  const saved = join(dir, output);
  await download.saveAs(saved);
  await expect(page.getByTestId('outcome')).toContainText('was downloaded');
  return saved;
}

function expectValidCopy(source: string, converted: string): void {
  if (converted.endsWith('.qcow2')) {
    const check = qemu('check', converted);
    expect(check.stdout).toContain('No errors were found on the image.');
  }
  expect(qemu('compare', source, converted).stdout).toBe('Images are identical.\n');
}

test.describe('without the save picker, the result arrives as a download', () => {
  test.beforeEach(({ page }) => noPicker(page));

  for (const compression of ['none', 'zlib', 'zstd'] as const) {
    test(`raw to qcow2, compression ${compression}`, async ({ page }) => {
      const foreign: string[] = [];
      page.on('request', (r) => !r.url().startsWith(ORIGIN) && foreign.push(r.url()));
      const source = rawSource(`disk-${compression}.img`, 12);
      await openImage(page, source);
      await page.getByLabel('Output format').selectOption('qcow2');
      await page.getByLabel('Compression').selectOption(compression);
      await expect(page.getByTestId('command')).toHaveText(
        `qemu-img convert -p -f raw -O qcow2${compression === 'none' ? '' : ' -c'}${compression === 'zstd' ? ' -o compression_type=zstd' : ''} disk-${compression}.img disk-${compression}.qcow2`,
      );
      const saved = await convertByDownload(page, `out-${compression}.qcow2`);
      expectValidCopy(source, saved);
      if (compression === 'none') {
        // Byte-identical to what qemu-img makes of the same input.
        const theirs = join(dir, 'theirs.qcow2');
        execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', source, theirs]);
        expect(execFileSync('cmp', [saved, theirs]).length).toBe(0);
      }
      expect(JSON.parse(qemu('info', '--output=json', saved).stdout)['format-specific'].data['compression-type']).toBe(
        compression === 'zstd' ? 'zstd' : 'zlib',
      );
      expect(foreign).toEqual([]);
    });
  }

  test('compressed qcow2 with a backing chain to raw', async ({ page }) => {
    const base = join(dir, 'base.qcow2');
    execFileSync('qemu-img', ['convert', '-c', '-f', 'raw', '-O', 'qcow2', rawSource('base.img', 6), base]);
    const overlay = join(dir, 'overlay.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', overlay]);
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 1M 128k', overlay], { stdio: 'ignore' });
    await openImage(page, overlay);
    await expect(page.getByRole('button', { name: 'Convert' })).toBeDisabled();
    await page.getByLabel('Choose backing files').setInputFiles(base);
    await expect(page.getByTestId('chain')).toContainText('base.qcow2');
    await expect(page.getByRole('button', { name: 'Convert' })).toBeEnabled();
    await page.getByLabel('Output format').selectOption('raw');
    const saved = await convertByDownload(page, 'merged.raw');
    const expected = join(dir, 'merged-qemu.raw');
    execFileSync('qemu-img', ['convert', '-O', 'raw', overlay, expected]);
    expect(spawnSync('cmp', [saved, expected]).status).toBe(0);
  });

  test('zstd-compressed qcow2 to raw (decoded by libzstd in WASM)', async ({ page }) => {
    const source = rawSource('zstd-source.img', 8);
    const image = join(dir, 'zstd.qcow2');
    execFileSync('qemu-img', ['convert', '-c', '-o', 'compression_type=zstd', '-f', 'raw', '-O', 'qcow2', source, image]);
    await openImage(page, image);
    await page.getByLabel('Output format').selectOption('raw');
    const saved = await convertByDownload(page, 'from-zstd.raw');
    expect(spawnSync('cmp', [saved, source]).status).toBe(0);
  });

  test('exports the disk as it was at an internal snapshot', async ({ page }) => {
    const image = join(dir, 'snapshots.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '4M']);
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x11 0 1M', image], { stdio: 'ignore' });
    execFileSync('qemu-img', ['snapshot', '-c', 'before upgrade', image]);
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x22 0 2M', image], { stdio: 'ignore' });
    await openImage(page, image);
    await page.getByLabel('Output format').selectOption('raw');
    await page.getByRole('button', { name: 'Export this state: before upgrade' }).click();
    await expect(page.getByLabel('Disk state')).toHaveValue('1');
    await expect(page.getByTestId('command')).toContainText('-l snapshot.id=1');
    const saved = await convertByDownload(page, 'snapshot.raw');
    const expected = join(dir, 'snapshot-qemu.raw');
    execFileSync('qemu-img', ['convert', '-l', 'snapshot.id=1', '-O', 'raw', image, expected]);
    expect(spawnSync('cmp', [saved, expected]).status).toBe(0);
  });

  test('cancel stops the job and leaves nothing staged', async ({ page }) => {
    const source = rawSource('big.img', 160);
    await openImage(page, source);
    await page.getByLabel('Compression').selectOption('zlib');
    await page.getByRole('button', { name: 'Convert' }).click();
    await expect(page.getByTestId('progress-text')).toBeVisible();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await expect(page.getByTestId('outcome')).toHaveText('Cancelled: nothing was saved');
    const staged = await page.evaluate(async () => {
      const names: string[] = [];
      const root = await navigator.storage.getDirectory();
      for await (const name of (root as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
      return names;
    });
    expect(staged).toEqual([]);
    await expect(page.getByRole('button', { name: 'Convert' })).toBeEnabled();
  });
});

test('with a file handle (as the save picker gives), the result is written in place', async ({ page }) => {
  // Headless Chromium cannot show the picker: hand out an OPFS file, the same writable stream.
  await page.addInitScript(() => {
    (window as unknown as { showSaveFilePicker: unknown }).showSaveFilePicker = async () => {
      const root = await navigator.storage.getDirectory();
      return root.getFileHandle('picked.qcow2', { create: true });
    };
  });
  const source = rawSource('handle.img', 8);
  await openImage(page, source);
  await page.getByLabel('Compression').selectOption('zlib');
  await page.getByRole('button', { name: 'Convert' }).click();
  await expect(page.getByTestId('outcome')).toHaveText('handle.qcow2 was saved');
  const base64 = await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const file = await (await root.getFileHandle('picked.qcow2')).getFile();
    const bytes = new Uint8Array(await file.arrayBuffer());
    let text = '';
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
  });
  const saved = join(dir, 'picked.qcow2');
  writeFileSync(saved, Buffer.from(base64, 'base64'));
  expectValidCopy(source, saved);
});
