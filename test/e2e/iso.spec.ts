/**
 * ISO inspection in real Chromium: the summary, the file browser (a folder of 20 000 entries
 * scrolls with a few dozen rows in the page), extraction of a file and of a folder as a zip, and
 * checksums checked against a pasted SHA256SUMS — all verified with the real tools.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { isoFixtures, VIETNAMESE } from '../interop/iso-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-iso-'));
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fixtures = isoFixtures();

async function openDisc(page: Page, iso: string): Promise<void> {
  await page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker);
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(iso);
  await expect(page.getByTestId('disc-summary')).toBeVisible();
}

test('the summary says what the disc is and how it boots', async ({ page }) => {
  await openDisc(page, fixtures.rich);
  await expect(page.getByTestId('disc-label')).toHaveText('RICH_DISC');
  await expect(page.getByTestId('disc-boots')).toHaveText('BIOS + UEFI');
  await expect(page.getByTestId('disc-filesystems')).toContainText('Rock Ridge, Joliet');
  await expect(page.getByTestId('disc-layout')).toBeVisible();
  await page.getByRole('button', { name: 'Compute SHA-256', exact: true }).click();
  await expect(page.getByTestId('checksums')).toBeVisible();
  const results = await new AxeBuilder({ page }).analyze();
  expect(results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
});

test('browse, then extract a file and a folder; the bytes are the originals', async ({ page }) => {
  await openDisc(page, fixtures.rich);
  await page.getByRole('button', { name: `Show details of ${VIETNAMESE}` }).click();
  await expect(page.getByTestId('disc-details')).toContainText(`/${VIETNAMESE}`);
  let downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Extract this file' }).click();
  const one = join(dir, 'one.txt');
  await (await downloading).saveAs(one);
  expect(readFileSync(one).equals(readFileSync(join(fixtures.source, VIETNAMESE)))).toBe(true);

  await page.getByRole('button', { name: 'Open folder a' }).click();
  await expect(page.getByTestId('disc-path')).toHaveText('/a');
  downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download this folder as .zip' }).click();
  const download = await downloading;
  expect(download.suggestedFilename()).toBe('a.zip');
  const zip = join(dir, 'a.zip');
  await download.saveAs(zip);
  const listed = spawnSync(
    'python3',
    [
      '-c',
      'import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(z.read("a/b/c/d/e/f/g/h/i/j/k/deep.txt").decode(), end="")',
      zip,
    ],
    { encoding: 'utf8' },
  );
  expect(listed.stderr).toBe('');
  expect(listed.stdout).toBe('deep inside\n');
});

test('checksums equal sha256sum (then sha1sum and md5sum on request), and a pasted SHA256SUMS says match or mismatch', async ({ page }) => {
  await openDisc(page, fixtures.rich);
  await page.getByRole('button', { name: 'Compute SHA-256', exact: true }).click();
  const sha256 = execFileSync('sha256sum', [fixtures.rich], { encoding: 'utf8' }).split(' ')[0];
  await expect(page.locator('[data-hash=sha256]')).toHaveText(sha256);
  await expect(page.locator('[data-hash=md5]')).toHaveCount(0);
  await page.getByRole('button', { name: 'Compute SHA-1 and MD5' }).click();
  await expect(page.locator('[data-hash=md5]')).toHaveText(execFileSync('md5sum', [fixtures.rich], { encoding: 'utf8' }).split(' ')[0]);
  await expect(page.locator('[data-hash=sha1]')).toHaveText(execFileSync('sha1sum', [fixtures.rich], { encoding: 'utf8' }).split(' ')[0]);
  await expect(page.locator('[data-hash=sha256]')).toHaveText(sha256);
  const box = page.getByLabel('Paste the SHA256SUMS file');
  await box.fill(`${'0'.repeat(64)}  other.iso\n${sha256}  rich.iso\n`);
  await expect(page.getByTestId('checksum-verdict')).toHaveAttribute('data-status', 'match');
  await box.fill(`${'1'.repeat(64)} *rich.iso`);
  await expect(page.getByTestId('checksum-verdict')).toHaveAttribute('data-status', 'mismatch');
});

test('a folder of 20 000 entries lists whole and scrolls with only the visible rows drawn', async ({ page }) => {
  test.setTimeout(180_000);
  const tree = join(dir, 'wide');
  mkdirSync(join(tree, 'all'), { recursive: true });
  for (let i = 0; i < 20_000; i++) writeFileSync(join(tree, 'all', `file-${i}.txt`), '');
  const iso = join(dir, 'wide.iso');
  execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-o', iso, tree], { stdio: 'ignore' });
  await openDisc(page, iso);
  await page.getByRole('button', { name: 'Open folder all' }).click();
  await expect(page.getByText('20,000 entries')).toBeVisible();
  await page.getByTestId('disc-list').evaluate((list) => (list.scrollTop = list.scrollHeight));
  await expect(page.getByRole('button', { name: 'Show details of file-19999.txt' })).toBeVisible();
  expect(await page.getByTestId('disc-list').locator('li').count()).toBeLessThan(40);
});
