/**
 * Compressed qcow2 back to raw in real Chromium: the clusters are decoded on the page's codec
 * workers (lent to the engine by port), not on the engine's thread — a prologue served before the
 * codec worker's script counts the clusters each decodes, and which decoder ran — and a damaged
 * cluster still fails the job with the same clear message, naming its offsets, as in-thread
 * decoding gives. Where no codec worker starts, the engine decodes on its own thread: same bytes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { pattern } from '../interop/fixtures.ts';
import { firstL2, patch, readBE64 } from '../support/qemu.ts';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-decode-pool-'));
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));
// Every worker script comes through the routes below, not from the service worker's cache.
test.use({ serviceWorkers: 'block' });

const CLUSTER = 65536;

function compressedImage(codec: 'zlib' | 'zstd'): { source: string; image: string } {
  const source = join(dir, `${codec}-source.img`);
  const parts: Buffer[] = [];
  for (let i = 0; i < 8; i++) parts.push(pattern((['text', 'zero', 'random', 'text'] as const)[i % 4], 1 << 20, i + 1));
  writeFileSync(source, Buffer.concat(parts));
  const image = join(dir, `${codec}.qcow2`);
  execFileSync('qemu-img', ['convert', '-c', '-o', `compression_type=${codec}`, '-f', 'raw', '-O', 'qcow2', source, image]);
  return { source, image };
}

/** The first guest cluster's compressed bytes as qemu-img stored them (64 KiB clusters: 54 offset bits). */
function firstCompressedCluster(image: string): { hostOffset: number; bytes: Buffer } {
  const entry = readBE64(image, firstL2(image).l2);
  expect(entry >> 62n).toBe(1n); // the compressed flag
  const hostOffset = Number(entry & ((1n << 54n) - 1n));
  const sectors = Number((entry >> 54n) & 0xffn) + 1;
  const length = sectors * 512 - (hostOffset % 512);
  return { hostOffset, bytes: readFileSync(image).subarray(hostOffset, hostOffset + length) };
}

/** Compressed clusters by qemu-img's map: data with no host offset given (7.2 prints no 'compressed' field). */
function compressedClusters(image: string): number {
  const map = JSON.parse(execFileSync('qemu-img', ['map', '--output=json', image], { encoding: 'utf8' })) as Array<{
    length: number;
    data: boolean;
    offset?: number;
  }>;
  return map.filter((entry) => entry.data && entry.offset === undefined).reduce((sum, entry) => sum + entry.length / CLUSTER, 0);
}

/** What each codec worker's decoding replies said, counted in the worker by a prologue to its script. */
interface DecodedHere {
  clusters: number;
  damaged: number;
  ran: string[];
}

async function countDecodingOnCodecWorkers(page: Page): Promise<() => Promise<DecodedHere>> {
  await page.route(/\/assets\/codec\.worker[\w.-]*\.js$/, async (route) => {
    const response = await route.fetch();
    const prologue = `{
      const counted = (self.decodedHere = { clusters: 0, damaged: 0, ran: [] });
      const post = MessagePort.prototype.postMessage;
      MessagePort.prototype.postMessage = function (message, ...rest) {
        if (message && Array.isArray(message.decoded)) {
          for (const ok of message.decoded) ok ? counted.clusters++ : counted.damaged++;
          for (const name of message.ran) if (!counted.ran.includes(name)) counted.ran.push(name);
        }
        return post.call(this, message, ...rest);
      };
    }`;
    await route.fulfill({ response, body: `${prologue}\n${await response.text()}` });
  });
  return async () => {
    const all: DecodedHere = { clusters: 0, damaged: 0, ran: [] };
    const codecWorkers = page.workers().filter((worker) => /codec\.worker/.test(worker.url()));
    expect(codecWorkers.length).toBeGreaterThanOrEqual(1);
    for (const worker of codecWorkers) {
      const here = await worker.evaluate(() => (self as unknown as { decodedHere: DecodedHere }).decodedHere);
      all.clusters += here.clusters;
      all.damaged += here.damaged;
      all.ran = [...new Set([...all.ran, ...here.ran])];
    }
    return all;
  };
}

async function openForRaw(page: Page, file: string): Promise<void> {
  await page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker);
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(file);
  await expect(page.getByTestId('format')).toBeVisible();
  await page.getByLabel('Output format').selectOption('raw');
}

for (const codec of ['zlib', 'zstd'] as const) {
  test(`${codec}-compressed qcow2 to raw: every cluster decoded on the codec workers, byte for byte`, async ({ page }) => {
    const { source, image } = compressedImage(codec);
    const decodedHere = await countDecodingOnCodecWorkers(page);
    await openForRaw(page, image);
    const downloading = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Convert' }).click();
    const saved = join(dir, `from-${codec}.raw`);
    await (await downloading).saveAs(saved);
    await expect(page.getByTestId('outcome')).toContainText('was downloaded');
    expect(spawnSync('cmp', [saved, source]).status).toBe(0);
    const decoded = await decodedHere();
    expect(decoded.clusters).toBe(compressedClusters(image));
    expect(decoded.clusters).toBeGreaterThanOrEqual(4); // the text megabytes at least
    expect(decoded.damaged).toBe(0);
    expect(decoded.ran).toEqual([codec === 'zlib' ? 'zlib: pako inflate' : 'zstd: libzstd (WASM)']);
  });
}

function damagedImage(): { image: string; hostOffset: number } {
  const { image } = compressedImage('zlib');
  const damaged = join(dir, 'damaged.qcow2');
  writeFileSync(damaged, readFileSync(image));
  const { hostOffset } = firstCompressedCluster(damaged);
  patch(damaged, hostOffset, new Array(64).fill(0xff));
  return { image: damaged, hostOffset };
}

/** The engine's own words (test/unit/core-bad-input.test.ts checks them in-thread). */
const damagedMessage = (hostOffset: number) =>
  `Compressed cluster at host offset 0x${hostOffset.toString(16)} (guest offset 0x0) does not decompress (zlib) to 65536 bytes`;

test('a damaged compressed cluster fails the job with its offsets, as in-thread decoding says it', async ({ page }) => {
  const { image, hostOffset } = damagedImage();
  const decodedHere = await countDecodingOnCodecWorkers(page);
  await openForRaw(page, image);
  await page.getByRole('button', { name: 'Convert' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'Conversion failed' })).toContainText(damagedMessage(hostOffset));
  expect((await decodedHere()).damaged).toBeGreaterThanOrEqual(1); // found so on a codec worker
});

test('without codec workers, the engine decodes on its own thread: the same bytes, the same error', async ({ page }) => {
  const broken: string[] = [];
  await page.route(/\/assets\/codec\.worker[\w.-]*\.js$/, async (route) => {
    broken.push(route.request().url());
    await route.fulfill({ contentType: 'text/javascript', body: 'throw new Error("this worker does not start here");' });
  });
  const { source, image } = compressedImage('zstd');
  await openForRaw(page, image);
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Convert' }).click();
  const saved = join(dir, 'from-zstd-in-thread.raw');
  await (await downloading).saveAs(saved);
  await expect(page.getByTestId('outcome')).toContainText('was downloaded');
  expect(spawnSync('cmp', [saved, source]).status).toBe(0);
  expect(broken.length).toBeGreaterThan(0);

  const { image: damaged, hostOffset } = damagedImage();
  await page.getByLabel('Open disk image').setInputFiles(damaged);
  await expect(page.getByTestId('format')).toBeVisible();
  await page.getByLabel('Output format').selectOption('raw');
  await page.getByRole('button', { name: 'Convert' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'Conversion failed' })).toContainText(damagedMessage(hostOffset));
});
