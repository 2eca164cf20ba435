/**
 * Every format a hypervisor makes, opened in the page: the facts qemu-img info gives, and a raw
 * conversion equal to qemu-img's byte for byte. Images made here by qemu-img; multi-file VMDKs are
 * opened with their extent files, as a person would pick them all.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { ovf } from '../support/ovf.ts';

const dir = mkdtempSync(join(tmpdir(), 'diskimg-e2e-formats-'));
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));
const run = (tool: string, ...args: string[]) => execFileSync(tool, args, { stdio: 'ignore', cwd: dir });

test.beforeEach(async ({ page }) => {
  await page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker);
});

/** A small raw disk with data, zeros and text, the source of every image below. */
function source(): string {
  const file = join(dir, 'source.raw');
  run('qemu-img', 'create', '-q', '-f', 'raw', file, '8M');
  run('qemu-io', '-f', 'raw', '-c', 'write -P 0x5a 0 1M', '-c', 'write -P 0xa5 3M 512k', '-c', 'write -P 0x11 7M 64k', file);
  return file;
}

/** `held`: the map class the data shows as (a streamOptimized VMDK's grains are compressed). */
const CASES: Array<{ name: string; format: string; options?: string; kind: string; held?: 'data' | 'compressed' }> = [
  { name: 'sparse.vmdk', format: 'vmdk', kind: 'VMware disk' },
  { name: 'stream.vmdk', format: 'vmdk', options: 'subformat=streamOptimized', kind: 'VMware disk', held: 'compressed' },
  { name: 'flat.vmdk', format: 'vmdk', options: 'subformat=monolithicFlat', kind: 'VMware disk' },
  { name: 'split.vmdk', format: 'vmdk', options: 'subformat=twoGbMaxExtentSparse', kind: 'VMware disk' },
  { name: 'dynamic.vhd', format: 'vpc', kind: 'VHD' },
  { name: 'fixed.vhd', format: 'vpc', options: 'subformat=fixed', kind: 'VHD' },
  { name: 'dynamic.vhdx', format: 'vhdx', kind: 'Hyper-V disk' },
  { name: 'dynamic.vdi', format: 'vdi', kind: 'VirtualBox disk' },
  { name: 'old.qcow', format: 'qcow', kind: 'qcow version 1' },
  { name: 'enhanced.qed', format: 'qed', kind: 'QED' },
  { name: 'mac.parallels', format: 'parallels', kind: 'Parallels disk' },
];

for (const { name, format, options, kind, held = 'data' } of CASES) {
  test(`${name}: opens as ${format} and converts to qemu-img's raw bytes`, async ({ page }) => {
    const raw = source();
    const image = join(dir, name);
    run('qemu-img', 'convert', '-q', '-f', 'raw', '-O', format, ...(options ? ['-o', options] : []), raw, image);
    const files = readdirSync(dir).filter((f) => f === name || f.startsWith(name.replace(/\.vmdk$/, '-')));
    const expected = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-f', format, image], { encoding: 'utf8' }));
    await page.goto('/');
    await page.getByLabel('Open disk image').setInputFiles(files.map((f) => join(dir, f)));
    await expect(page.getByRole('heading', { name })).toBeVisible();
    await expect(page.getByTestId('format')).toHaveText(format);
    await expect(page.getByTestId('format-kind')).toContainText(kind);
    await expect(page.getByTestId('virtual-size')).toHaveAttribute('data-bytes', String(expected['virtual-size']));
    await expect(page.getByTestId('map-legend').locator(`[data-class=${held}]`)).not.toHaveAttribute('data-bytes', '0');

    await page.getByLabel('Output format').selectOption('raw');
    const downloading = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Convert' }).click();
    const ours = join(dir, `${name}.ours.raw`);
    await (await downloading).saveAs(ours);
    const theirs = join(dir, `${name}.qemu.raw`);
    run('qemu-img', 'convert', '-q', '-f', format, '-O', 'raw', image, theirs);
    expect(execFileSync('cmp', [ours, theirs], { encoding: 'utf8' })).toBe('');
  });
}

test("an OVA: the VM and its disks are named, and the second disk converts to qemu-img's bytes", async ({ page }) => {
  const raw = source();
  const second = join(dir, 'second.raw');
  run('qemu-img', 'create', '-q', '-f', 'raw', second, '2M');
  run('qemu-io', '-f', 'raw', '-c', 'write -P 0x77 64k 256k', second);
  run('qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, join(dir, 'vm-disk1.vmdk'));
  run('qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', second, join(dir, 'vm-disk2.vmdk'));
  writeFileSync(
    join(dir, 'vm.ovf'),
    ovf(
      [
        { file: 'vm-disk1.vmdk', capacity: 8 << 20 },
        { file: 'vm-disk2.vmdk', capacity: 2 << 20 },
      ],
      { name: 'web server' },
    ),
  );
  run('tar', '--format=ustar', '-cf', 'vm.ova', 'vm.ovf', 'vm-disk1.vmdk', 'vm-disk2.vmdk');
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(join(dir, 'vm.ova'));
  await expect(page.getByTestId('ova')).toContainText('The VM “web server” has 2 disks');
  await expect(page.getByTestId('virtual-size')).toHaveAttribute('data-bytes', String(8 << 20));
  await page.getByTestId('ova').getByRole('combobox').selectOption('1');
  await expect(page.getByTestId('virtual-size')).toHaveAttribute('data-bytes', String(2 << 20));
  await expect(page.getByTestId('format-kind')).toContainText('disk 2 of 2');

  await page.getByLabel('Output format').selectOption('raw');
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Convert' }).click();
  const ours = join(dir, 'ova-disk2.ours.raw');
  await (await downloading).saveAs(ours);
  expect(execFileSync('cmp', [ours, second], { encoding: 'utf8' })).toBe('');
});
