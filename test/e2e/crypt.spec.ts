/**
 * Encrypted qcow2 in the page: a LUKS image made by qemu-img asks for its passphrase (a wrong one
 * is said so), then shows its partitions, browses the files of one, and converts to the exact raw disk; and a new image can
 * be written LUKS-encrypted, which qemu-img opens with the passphrase.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-crypt-'));
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));
const PASSPHRASE = 'mật khẩu bí mật';
const raw = join(dir, 'disk.raw');
const encrypted = join(dir, 'secret.qcow2');
const secretFile = join(dir, 'secret.txt');

test.beforeAll(() => {
  // A 32 MiB disk with an MBR and a FAT partition, encrypted by qemu-img with LUKS.
  writeFileSync(raw, Buffer.alloc(32 << 20));
  execFileSync('sfdisk', ['-q', raw], { input: 'start=2048, size=30720, type=c\n' });
  const fat = join(dir, 'fat.img');
  execFileSync('mkfs.vfat', ['-C', '-n', 'SECRETFS', fat, String(15 * 1024)], { stdio: 'ignore' });
  writeFileSync(secretFile, 'only readable once unlocked\n'.repeat(1000));
  execFileSync('mcopy', ['-i', fat, secretFile, '::/secret.txt'], { stdio: 'ignore', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  execFileSync('dd', [`if=${fat}`, `of=${raw}`, 'bs=512', 'seek=2048', 'conv=notrunc'], { stdio: 'ignore' });
  // qemu-img times PBKDF2 to pick its iteration count and now and then fails to ("Unable to get
  // accurate CPU usage") on a busy machine: try again.
  for (let attempt = 1; ; attempt++) {
    const made = spawnSync(
      'qemu-img',
      [
        'convert',
        '-q',
        '--object',
        `secret,id=sec0,data=${PASSPHRASE}`,
        '-f',
        'raw',
        '-O',
        'qcow2',
        '-o',
        'encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=50',
        raw,
        encrypted,
      ],
      { encoding: 'utf8' },
    );
    if (made.status === 0) break;
    if (attempt === 5) throw new Error(`qemu-img could not make the LUKS fixture: ${made.stderr}`);
  }
});

test('asks for the passphrase, refuses a wrong one, then shows partitions and converts exactly', async ({ page }) => {
  await page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker);
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(encrypted);
  await expect(page.getByRole('heading', { name: 'Encrypted image' })).toBeVisible();
  await page.getByLabel('Passphrase', { exact: true }).fill('not it');
  await page.getByRole('button', { name: 'Unlock' }).click();
  await expect(page.getByRole('alert')).toContainText('Invalid password, cannot unlock any keyslot');
  // The allocation map drawn for the new inspection reads without the wrong passphrase: it shows
  // its picture, and the prompt's alert stays the only one.
  await expect(page.getByRole('img', { name: /of data/ })).toBeVisible();
  await expect(page.getByRole('alert')).toHaveCount(1);
  await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
  await page.getByRole('button', { name: 'Unlock' }).click();
  await expect(page.getByTestId('unlocked')).toBeVisible();
  await expect(page.getByTestId('partitions').locator('[data-index="1"] [data-testid=fs-type]')).toHaveText('vfat FAT16');
  // Once unlocked, the partition's files can be read.
  await page.getByRole('button', { name: 'Browse the files of partition 1' }).click();
  await page.getByRole('button', { name: 'Show details of secret.txt' }).click();
  let downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Extract this file' }).click();
  const extracted = join(dir, 'secret-out.txt');
  await (await downloading).saveAs(extracted);
  expect(spawnSync('cmp', [extracted, secretFile]).status).toBe(0);
  // A plain output of an encrypted disk is said to be one, while it is one.
  await expect(page.getByTestId('decrypting')).toContainText('This image is encrypted, but the new one will not be');
  await page.getByLabel('Encrypt the new image').check();
  await expect(page.getByTestId('decrypting')).toHaveCount(0);
  await page.getByLabel('Output format').selectOption('raw');
  await expect(page.getByTestId('decrypting')).toContainText('Only an uncompressed qcow2 output can be encrypted');
  downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Convert' }).click();
  const saved = join(dir, 'back.raw');
  await (await downloading).saveAs(saved);
  expect(spawnSync('cmp', [saved, raw]).status).toBe(0);
});

test('writes a LUKS-encrypted qcow2 that qemu-img opens with the passphrase', async ({ page }) => {
  test.setTimeout(120_000);
  await page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker);
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(raw);
  await page.getByLabel('Encrypt the new image').check();
  await expect(page.getByRole('button', { name: 'Convert' })).toBeDisabled();
  await page.getByLabel('Passphrase for the new image').fill(PASSPHRASE);
  // Typed once, or twice differently, it could lock the new image for good: Convert waits.
  await expect(page.getByRole('button', { name: 'Convert' })).toBeDisabled();
  await page.getByLabel('The same passphrase again').fill(`${PASSPHRASE}x`);
  await expect(page.getByTestId('passphrase-mismatch')).toHaveText('The two passphrases differ: type the same one twice.');
  await expect(page.getByRole('button', { name: 'Convert' })).toBeDisabled();
  await page.getByLabel('The same passphrase again').fill(PASSPHRASE);
  await expect(page.getByTestId('passphrase-mismatch')).toHaveCount(0);
  const downloading = page.waitForEvent('download', { timeout: 90_000 });
  await page.getByRole('button', { name: 'Convert' }).click();
  const saved = join(dir, 'made.qcow2');
  await (await downloading).saveAs(saved);
  const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', saved], { encoding: 'utf8' }));
  expect(info['format-specific'].data.encrypt.format).toBe('luks');
  const opts = `driver=qcow2,file.filename=${saved},encrypt.key-secret=sec0`;
  const compare = spawnSync(
    'qemu-img',
    ['compare', '--object', `secret,id=sec0,data=${PASSPHRASE}`, '--image-opts', opts, `driver=raw,file.filename=${raw}`],
    { encoding: 'utf8' },
  );
  expect(compare.stderr).toBe('');
  expect(compare.stdout).toBe('Images are identical.\n');
  const check = spawnSync('qemu-img', ['check', '--object', `secret,id=sec0,data=${PASSPHRASE}`, '--image-opts', opts], {
    encoding: 'utf8',
  });
  expect(check.stdout).toContain('No errors were found on the image.');
});

test('legacy AES: a wrong passphrase is caught by what the disk looks like, and another can be typed', async ({ page }) => {
  const aes = join(dir, 'legacy-aes.qcow2');
  execFileSync('qemu-img', [
    'convert',
    '-q',
    '--object',
    `secret,id=sec0,data=${PASSPHRASE}`,
    '-f',
    'raw',
    '-O',
    'qcow2',
    '-o',
    'encrypt.format=aes,encrypt.key-secret=sec0',
    raw,
    aes,
  ]);
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(aes);
  await expect(page.getByText('Legacy AES encryption stores no check of its passphrase')).toBeVisible();
  await page.getByLabel('Passphrase', { exact: true }).fill('not it');
  await page.getByRole('button', { name: 'Unlock' }).click();
  await expect(page.getByTestId('aes-verdict')).toContainText('does not start like a disk');
  await page.getByRole('button', { name: 'Enter another passphrase' }).click();
  await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
  await page.getByRole('button', { name: 'Unlock' }).click();
  await expect(page.getByTestId('aes-verdict')).toContainText('starts like a disk');
  await expect(page.getByTestId('partitions').locator('[data-index="1"] [data-testid=fs-type]')).toHaveText('vfat FAT16');
});
