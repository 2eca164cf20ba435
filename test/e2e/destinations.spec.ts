/**
 * "I want this disk in …": each destination sets the format its hypervisor imports, the page
 * writes it, and the result is what qemu-img says it should be — read back identical, in the
 * subformat asked for, and made the same by the qemu-img command the page shows (run as shown).
 * The import step is shown after the job. Azure's fixed VHD is grown to a whole MiB.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { pattern } from '../interop/fixtures.ts';

const root = mkdtempSync(join(tmpdir(), 'diskimg-e2e-destinations-'));
test.afterAll(() => rmSync(root, { recursive: true, force: true }));
const MiB = 1 << 20;

/** The parts of qemu-img info --output=json read here. */
interface QemuInfo {
  format: string;
  'virtual-size': number;
  'format-specific': { data: { 'create-type'?: string } };
}

/** 5 MiB and three sectors of text, zeros and random data: not a whole number of MiB. */
function source(dir: string): string {
  const file = join(dir, 'vm.img');
  writeFileSync(file, Buffer.concat([pattern('text', 2 * MiB, 1), Buffer.alloc(MiB), pattern('random', 2 * MiB + 1536, 2)]));
  return file;
}

const info = (file: string, format: string) =>
  JSON.parse(execFileSync('qemu-img', ['info', '-f', format, '--output=json', file], { encoding: 'utf8' }));
const compare = (a: string, b: string, format: string) =>
  spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', format, a, b], { encoding: 'utf8' }).stdout;

const cases = [
  {
    destination: 'VMware Workstation / Fusion (VMDK)',
    id: 'workstation',
    format: 'vmdk',
    ending: 'vmdk',
    check: (i: QemuInfo) => expect(i['format-specific'].data['create-type']).toBe('monolithicSparse'),
  },
  { destination: 'VirtualBox (VDI)', id: 'virtualbox', format: 'vdi', ending: 'vdi', check: () => {} },
  { destination: 'Hyper-V (VHDX)', id: 'hyperv', format: 'vhdx', ending: 'vhdx', check: () => {} },
  {
    destination: 'Azure (fixed VHD)',
    id: 'azure',
    format: 'vpc',
    ending: 'vhd',
    check: (i: QemuInfo) => expect(i['virtual-size'] % MiB).toBe(0),
  },
] as const;

test.beforeEach(({ page }) => page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker));

for (const c of cases) {
  test(`${c.id}: the format it imports, read back identical, made the same by the command shown`, async ({ page }) => {
    const dir = join(root, c.id);
    const shell = join(dir, 'shell');
    mkdirSync(shell, { recursive: true });
    const input = source(dir);
    copyFileSync(input, join(shell, 'vm.img'));
    await page.goto('/');
    await page.getByLabel('Open disk image').setInputFiles(input);
    await expect(page.getByTestId('format')).toBeVisible();
    await page.getByLabel('Destination').selectOption({ label: c.destination });
    await expect(page.getByLabel('Output format')).toHaveValue(c.format);
    if (c.id === 'azure') await expect(page.getByTestId('azure-size')).toContainText('6 MiB');
    const command = (await page.getByTestId('command').textContent()) ?? '';
    const downloading = page.waitForEvent('download', { timeout: 60_000 });
    await page.getByRole('button', { name: 'Convert', exact: true }).click();
    const download = await downloading;
    expect(download.suggestedFilename()).toBe(`vm.${c.ending}`);
    const ours = join(dir, download.suggestedFilename());
    await download.saveAs(ours);

    const facts = info(ours, c.format);
    expect(facts.format).toBe(c.format);
    c.check(facts);
    // Azure's disk is larger than the source: qemu-img warns of that, and finds the rest zeros.
    expect(compare(input, ours, c.format)).toBe(
      c.id === 'azure' ? 'Warning: Image size mismatch!\nImages are identical.\n' : 'Images are identical.\n',
    );
    if (c.id === 'azure') expect(statSync(ours).size).toBe(6 * MiB + 512);

    await expect(page.getByTestId('import-steps')).toHaveAttribute('data-destination', c.id);
    const ran = spawnSync('sh', ['-ec', command], { cwd: shell, encoding: 'utf8' });
    expect(ran.stderr, command).toBe('');
    const theirs = join(shell, download.suggestedFilename());
    expect(spawnSync('qemu-img', ['compare', '-f', c.format, '-F', c.format, ours, theirs], { encoding: 'utf8' }).stdout, command).toBe(
      'Images are identical.\n',
    );
    expect(statSync(theirs).size).toBe(statSync(ours).size);
  });
}

test('ESXi: an OVA whose .ovf comes first, its disk a streamOptimized VMDK identical to the source', async ({ page }) => {
  const dir = join(root, 'esxi');
  mkdirSync(dir, { recursive: true });
  const input = source(dir);
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(input);
  await expect(page.getByTestId('format')).toBeVisible();
  await page.getByLabel('Destination').selectOption({ label: 'VMware ESXi / vCenter (OVA)' });
  await expect(page.getByLabel('Output format')).toHaveValue('ova');
  await expect(page.getByLabel('cpus')).toHaveValue('2');
  await page.getByLabel('memory').fill('4096');
  await page.getByLabel('memory').dispatchEvent('change');
  const command = (await page.getByTestId('command').textContent()) ?? '';
  expect(command).toContain(
    'npx diskimg convert -p -f raw -O ova -o cpus=2,memory=4096,controller=scsi vm.img vm.ova'.replace(',controller=scsi', ''),
  );
  const downloading = page.waitForEvent('download', { timeout: 60_000 });
  await page.getByRole('button', { name: 'Convert', exact: true }).click();
  const ours = join(dir, 'vm.ova');
  await (await downloading).saveAs(ours);
  const listed = execFileSync('tar', ['tf', ours], { encoding: 'utf8' }).trim().split('\n');
  expect(listed[0]).toMatch(/\.ovf$/);
  execFileSync('tar', ['xf', ours], { cwd: dir });
  const ovf = execFileSync('cat', [join(dir, listed[0])], { encoding: 'utf8' });
  expect(ovf).toContain('<rasd:VirtualQuantity>4096</rasd:VirtualQuantity>');
  const disk = join(
    dir,
    listed.find((name) => name.endsWith('.vmdk'))!,
  );
  expect(info(disk, 'vmdk')['format-specific'].data['create-type']).toBe('streamOptimized');
  expect(compare(input, disk, 'vmdk')).toBe('Images are identical.\n');
  await expect(page.getByTestId('import-commands')).toContainText('ovftool');
});
