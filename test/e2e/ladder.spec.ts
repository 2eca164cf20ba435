/**
 * The output ladder in Chromium, by taking features away as other browsers lack them: without
 * the picker and with more output than OPFS can hold, the download streams through the service
 * worker; with neither OPFS room nor a service worker, a small output is built in memory and a
 * big one is refused up front with the numbers. The page says which rung it took.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-ladder-'));
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A qcow2 far larger (virtually) than OPFS here can hold, with a little data. */
function sparse(name: string, size: string): string {
  const file = join(dir, name);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, size]);
  execFileSync('qemu-io', ['-c', 'write -P 0x33 0 1M', file], { stdio: 'ignore' });
  return file;
}

async function withoutPicker(page: Page, serviceWorker: boolean): Promise<void> {
  await page.addInitScript((keep) => {
    delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker;
    if (!keep) Object.defineProperty(Navigator.prototype, 'serviceWorker', { get: () => undefined });
  }, serviceWorker);
}

async function open(page: Page, file: string): Promise<void> {
  await page.goto('/');
  await page.evaluate(async () => navigator.serviceWorker && (await navigator.serviceWorker.ready));
  await page.reload();
  await page.getByLabel('Open disk image').setInputFiles(file);
  await expect(page.getByTestId('format')).toBeVisible();
}

test('more than OPFS can hold streams through the service worker, and cancel ends the download', async ({ page }) => {
  await withoutPicker(page, true);
  await open(page, sparse('huge.qcow2', '64T'));
  await page.getByLabel('Output format').selectOption('raw');
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Convert' }).click();
  await expect(page.getByTestId('route')).toHaveAttribute('data-rung', 'stream');
  await expect(page.getByTestId('route')).toContainText('free and the image may take up to 64 TiB');
  const download = await downloading;
  await expect(page.getByTestId('progress-text')).toContainText('MB/s');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('outcome')).toHaveText('Cancelled: nothing was saved');
  expect(await download.failure()).not.toBeNull();
});

test('with no OPFS room and no service worker, a big output is refused up front with the numbers', async ({ page }) => {
  await withoutPicker(page, false);
  await open(page, sparse('big.qcow2', '64T'));
  await page.getByLabel('Output format').selectOption('raw');
  await page.getByRole('button', { name: 'Convert' }).click();
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('The new image may take up to 64 TiB');
  await expect(alert).toContainText('no service worker');
  await expect(page.getByTestId('progress-text')).toHaveCount(0);
});

test('a small qcow2 output is measured, not its virtual size: qcow2 of the same disk fits', async ({ page }) => {
  await withoutPicker(page, true);
  const source = sparse('small-data.qcow2', '64T');
  await open(page, source);
  await page.getByLabel('Output format').selectOption('qcow2');
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Convert' }).click();
  const download = await downloading;
  const saved = join(dir, 'small-data-out.qcow2');
  await download.saveAs(saved);
  await expect(page.getByTestId('outcome')).toContainText('was downloaded');
  await expect(page.getByTestId('route')).toHaveAttribute('data-rung', 'opfs');
  expect(spawnSync('qemu-img', ['compare', source, saved], { encoding: 'utf8' }).stdout).toBe('Images are identical.\n');
});

test('a download the browser never takes fails the job with that reason, instead of waiting for ever', async ({ page }) => {
  await withoutPicker(page, true);
  // Neither way of starting the download reaches the service worker: the link's click and the
  // frame are both swallowed, as a browser that drops them would.
  await page.addInitScript(() => {
    const click = HTMLAnchorElement.prototype.click;
    HTMLAnchorElement.prototype.click = function (this: HTMLAnchorElement) {
      if (!this.href.includes('/__download/')) click.call(this);
    };
    const append = Element.prototype.append;
    Element.prototype.append = function (this: Element, ...nodes: (Node | string)[]) {
      append.call(this, ...nodes.filter((n) => !(n instanceof HTMLIFrameElement && n.src.includes('/__download/'))));
    };
  });
  await open(page, sparse('never-taken.qcow2', '64T'));
  await page.getByLabel('Output format').selectOption('raw');
  await page.getByRole('button', { name: 'Convert' }).click();
  await expect(page.getByTestId('route')).toHaveAttribute('data-rung', 'stream');
  await expect(page.getByRole('alert')).toContainText('The browser did not start the download', { timeout: 30_000 });
  await expect(page.getByRole('button', { name: 'Convert' })).toBeEnabled();
});

test('a download the browser took goes on when the page hears of it late, past its patience', async ({ page }) => {
  await withoutPicker(page, true);
  // The worker's word that the download started never reaches the page (in WebKit on a busy
  // machine it came after the page's 12 s): the page gives up and says so to the worker, which
  // must keep a download the browser holds.
  await page.addInitScript(() => {
    const listen = ServiceWorkerContainer.prototype.addEventListener;
    ServiceWorkerContainer.prototype.addEventListener = function (
      this: ServiceWorkerContainer,
      type: string,
      listener: unknown,
      options?: unknown,
    ) {
      const inner = listener as (event: MessageEvent) => void;
      const filtered = (event: Event) => {
        if ((event as MessageEvent).data?.type !== 'diskimg-download-fetch') inner(event as MessageEvent);
      };
      return listen.call(this, type, type === 'message' ? filtered : (listener as EventListener), options as boolean);
    } as typeof ServiceWorkerContainer.prototype.addEventListener;
  });
  await open(page, sparse('heard-late.qcow2', '16G'));
  await page.getByLabel('Output format').selectOption('raw');
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Convert' }).click();
  await expect(page.getByTestId('route')).toHaveAttribute('data-rung', 'stream');
  const download = await downloading;
  const progress = page.getByTestId('progress-text');
  await expect(progress).toContainText('MB/s');
  // Past the page's patience (2 s for the link, then 10 s for the frame): still converting.
  await page.waitForTimeout(15_000);
  await expect(page.getByRole('alert')).toHaveCount(0);
  const before = await progress.textContent();
  await expect(progress).not.toHaveText(before ?? '');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('outcome')).toHaveText('Cancelled: nothing was saved');
  expect(await download.failure()).not.toBeNull();
});
