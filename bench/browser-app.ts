/**
 * What the browser benches share: the built app served by vite preview, one headless Chromium
 * page on it without the save picker (outputs are staged in OPFS and downloaded), and the steps
 * that open an image and choose the output.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from '@playwright/test';
import { CHROMIUM_ARGS } from '../playwright.config.ts';

export interface App {
  page: Page;
  context: BrowserContext;
  /** The browser's profile folder (its renderer's memory is sampled by it). */
  profileDir: string;
  /** Loads the app and gives it `file`, as a user's pick would. */
  open(file: string): Promise<void>;
  /** Chooses the output format, and the compression for qcow2. */
  chooseOutput(format: string, compression: string): Promise<void>;
  close(): Promise<void>;
}

export async function startApp(port: number, extraChromiumArgs: string[] = []): Promise<App> {
  // A process group of its own: npx's child (vite) must go with it, or it keeps the port and the
  // next run's page talks to this run's build.
  const server = spawn('npx', ['vite', 'preview', '--port', String(port), '--strictPort', '--host', '127.0.0.1'], {
    stdio: 'ignore',
    detached: true,
  });
  await new Promise((r) => setTimeout(r, 2500));
  const profileDir = mkdtempSync(join(tmpdir(), 'diskimg-bench-profile-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [...CHROMIUM_ARGS, ...extraChromiumArgs],
    headless: true,
    acceptDownloads: true,
  });
  const page = await context.newPage();
  await page.addInitScript(() => {
    delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker;
  });
  return {
    page,
    context,
    profileDir,
    async open(file) {
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.getByLabel('Open disk image').setInputFiles(resolve(file));
      await page.getByTestId('format').waitFor();
    },
    async chooseOutput(format, compression) {
      await page.getByLabel('Output format').selectOption(format);
      if (format === 'qcow2') await page.getByLabel('Compression').selectOption(compression);
    },
    async close() {
      await context.close();
      process.kill(-server.pid!);
      rmSync(profileDir, { recursive: true, force: true });
    },
  };
}
