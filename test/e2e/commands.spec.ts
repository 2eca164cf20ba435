/**
 * Every "equivalent qemu-img command" the page shows runs as shown: in a folder holding the image
 * (and the files it names, and the passphrase files the page asks for), the real qemu-img makes a
 * disk that `qemu-img compare` finds identical to what the page made. Encrypted inputs and outputs,
 * an OVA, a backing chain, a snapshot and every format's -f are among them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { pattern } from '../interop/fixtures.ts';
import { ovf } from '../support/ovf.ts';

const root = mkdtempSync(join(tmpdir(), 'diskimg-e2e-commands-'));
test.afterAll(() => rmSync(root, { recursive: true, force: true }));
const PASSPHRASE = 'mật khẩu, cũ';
const NEW_PASSPHRASE = "new 'one'";
const MiB = 1 << 20;

const run = (cwd: string, command: string, ...args: string[]) => execFileSync(command, args, { cwd, stdio: 'pipe' });

/** A 6 MiB disk with text, zeros and random data, written in a case's folder. */
function rawDisk(dir: string, name = 'source.raw'): string {
  const parts = [pattern('text', 2 * MiB, 1), Buffer.alloc(MiB), pattern('random', 2 * MiB, 2), pattern('text', MiB, 3)];
  writeFileSync(join(dir, name), Buffer.concat(parts));
  return name;
}

/** qemu-img times PBKDF2 and now and then fails to on a busy machine: try again. */
function qemuWithRetry(cwd: string, ...args: string[]): void {
  for (let attempt = 1; ; attempt++) {
    const made = spawnSync('qemu-img', args, { cwd, encoding: 'utf8' });
    if (made.status === 0) return;
    if (attempt === 5) throw new Error(made.stderr);
  }
}

interface Case {
  name: string;
  /** Makes the fixture in `dir`; returns the files to open (the image first). */
  make(dir: string): string[];
  /** Sets the page's options once the image is open. */
  choose?(page: Page): Promise<void>;
  /** The input's passphrase, typed into the page and written to passphrase.txt. */
  passphrase?: string;
  /** Encrypt the new image under this passphrase. */
  encryptWith?: string;
  /** The output is raw (else qcow2). */
  raw?: boolean;
}

const cases: Case[] = [
  { name: 'raw to qcow2', make: (dir) => [rawDisk(dir)] },
  {
    name: 'raw to zlib qcow2 with 4 KiB clusters',
    make: (dir) => [rawDisk(dir)],
    choose: async (page) => {
      await page.getByLabel('Compression').selectOption('zlib');
      await page.getByLabel('Cluster size').selectOption('4096');
    },
  },
  {
    name: 'raw to zstd qcow2',
    make: (dir) => [rawDisk(dir)],
    choose: (page) =>
      page
        .getByLabel('Compression')
        .selectOption('zstd')
        .then(() => {}),
  },
  {
    name: 'raw to compat 0.10 qcow2',
    make: (dir) => [rawDisk(dir)],
    choose: (page) =>
      page
        .getByLabel('Compatibility')
        .selectOption('0.10')
        .then(() => {}),
  },
  {
    name: 'a snapshot of a qcow2 to raw',
    raw: true,
    make: (dir) => {
      run(dir, 'qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', rawDisk(dir), 'snaps.qcow2');
      run(dir, 'qemu-img', 'snapshot', '-c', 'first', 'snaps.qcow2');
      run(dir, 'qemu-io', '-f', 'qcow2', '-c', 'write -P 0x5a 0 3M', 'snaps.qcow2');
      return ['snaps.qcow2'];
    },
    choose: async (page) => {
      await page.getByRole('button', { name: 'Export this state: first' }).click();
    },
  },
  {
    name: 'an overlay and its backing file to qcow2',
    make: (dir) => {
      run(dir, 'qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', rawDisk(dir), 'base.qcow2');
      run(dir, 'qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'top.qcow2');
      run(dir, 'qemu-io', '-f', 'qcow2', '-c', 'write -P 0x33 1M 2M', 'top.qcow2');
      return ['top.qcow2', 'base.qcow2'];
    },
  },
  {
    name: 'a LUKS qcow2 to raw',
    raw: true,
    passphrase: PASSPHRASE,
    make: (dir) => {
      qemuWithRetry(
        dir,
        'convert',
        '-q',
        '--object',
        `secret,id=s,data=${PASSPHRASE.replace(/,/g, ',,')}`,
        '-f',
        'raw',
        '-O',
        'qcow2',
        '-o',
        'encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=50',
        rawDisk(dir),
        'locked.qcow2',
      );
      return ['locked.qcow2'];
    },
  },
  { name: 'raw to an encrypted qcow2', encryptWith: NEW_PASSPHRASE, make: (dir) => [rawDisk(dir)] },
  {
    name: 'a LUKS qcow2 to an encrypted qcow2',
    passphrase: PASSPHRASE,
    encryptWith: NEW_PASSPHRASE,
    make: (dir) => {
      qemuWithRetry(
        dir,
        'convert',
        '-q',
        '--object',
        `secret,id=s,data=${PASSPHRASE.replace(/,/g, ',,')}`,
        '-f',
        'raw',
        '-O',
        'qcow2',
        '-o',
        'encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=50',
        rawDisk(dir),
        'locked.qcow2',
      );
      return ['locked.qcow2'];
    },
  },
  {
    name: 'a standalone LUKS volume to raw',
    raw: true,
    passphrase: PASSPHRASE,
    make: (dir) => {
      qemuWithRetry(
        dir,
        'convert',
        '-q',
        '--object',
        `secret,id=s,data=${PASSPHRASE.replace(/,/g, ',,')}`,
        '-f',
        'raw',
        '-O',
        'luks',
        '-o',
        'key-secret=s,iter-time=50',
        rawDisk(dir),
        'volume.luks',
      );
      return ['volume.luks'];
    },
  },
  {
    name: 'the second disk of an OVA to qcow2',
    make: (dir) => {
      const first = rawDisk(dir, 'one.raw');
      const second = rawDisk(dir, 'two.raw');
      run(dir, 'qemu-io', '-f', 'raw', '-c', 'write -P 0x77 0 1M', second);
      run(dir, 'qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', first, 'vm-disk1.vmdk');
      run(dir, 'qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', second, 'vm-disk2.vmdk');
      writeFileSync(
        join(dir, 'vm.ovf'),
        ovf(
          [
            { file: 'vm-disk1.vmdk', capacity: 6 * MiB },
            { file: 'vm-disk2.vmdk', capacity: 6 * MiB },
          ],
          { name: 'vm' },
        ),
      );
      run(dir, 'tar', '--format=ustar', '-cf', 'vm.ova', 'vm.ovf', 'vm-disk1.vmdk', 'vm-disk2.vmdk');
      // The folder the command runs in holds the archive alone: the disk comes out of it.
      for (const name of ['vm.ovf', 'vm-disk1.vmdk', 'vm-disk2.vmdk']) rmSync(join(dir, name));
      return ['vm.ova'];
    },
    choose: async (page) => {
      await page.getByTestId('ova').getByRole('combobox').selectOption('1');
      await expect(page.getByTestId('format-kind')).toContainText('disk 2 of 2');
    },
  },
  ...(
    [
      ['vmdk', []],
      ['vpc', []],
      ['vhdx', []],
      ['vdi', []],
      ['qed', []],
      ['qcow', []],
      ['parallels', []],
    ] as const
  ).map(([format]) => ({
    name: `${format} to qcow2`,
    make: (dir: string) => {
      run(dir, 'qemu-img', 'convert', '-q', '-f', 'raw', '-O', format, rawDisk(dir), `disk.${format}`);
      return [`disk.${format}`];
    },
  })),
];

/** `qemu-img compare` of two images, either of which may be an encrypted qcow2. */
function compare(a: string, b: string, encrypted: boolean): { stdout: string; stderr: string } {
  const args = encrypted
    ? [
        'compare',
        '--object',
        `secret,id=k,data=${NEW_PASSPHRASE}`,
        '--image-opts',
        `driver=qcow2,file.filename=${a},encrypt.key-secret=k`,
        `driver=qcow2,file.filename=${b},encrypt.key-secret=k`,
      ]
    : ['compare', a, b];
  return spawnSync('qemu-img', args, { encoding: 'utf8' });
}

test.beforeEach(({ page }) => page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker));

for (const [index, c] of cases.entries()) {
  test(`the command shown runs as shown: ${c.name}`, async ({ page }) => {
    test.setTimeout(90_000);
    const made = join(root, `case-${index}`, 'made');
    mkdirSync(made, { recursive: true });
    const files = c.make(made).map((name) => join(made, name));
    // qemu-img runs in a folder of its own, holding copies of exactly the files the page was given.
    const shell = join(root, `case-${index}`, 'shell');
    mkdirSync(shell);
    for (const file of files) copyFileSync(file, join(shell, basename(file)));

    await page.goto('/');
    await page.getByLabel('Open disk image').setInputFiles(files);
    await expect(page.getByTestId('format')).toBeVisible();
    if (c.passphrase) {
      await page.getByLabel('Passphrase', { exact: true }).fill(c.passphrase);
      await page.getByRole('button', { name: 'Unlock' }).click();
      await expect(page.getByTestId('unlocked')).toBeVisible();
    }
    if (c.raw) await page.getByLabel('Output format').selectOption('raw');
    await c.choose?.(page);
    if (c.encryptWith) {
      await page.getByLabel('Encrypt the new image').check();
      await page.getByLabel('Passphrase for the new image').fill(c.encryptWith);
      await page.getByLabel('The same passphrase again').fill(c.encryptWith);
    }
    const command = (await page.getByTestId('command').textContent()) ?? '';
    const downloading = page.waitForEvent('download', { timeout: 60_000 });
    await page.getByRole('button', { name: 'Convert', exact: true }).click();
    const download = await downloading;
    const ours = join(root, `case-${index}`, download.suggestedFilename());
    await download.saveAs(ours);

    // No passphrase on the command line: the page names the files that hold them instead.
    for (const secret of [c.passphrase, c.encryptWith]) if (secret) expect(command).not.toContain(secret);
    if (c.passphrase || c.encryptWith) {
      await page.getByText('Equivalent qemu-img command').click();
      const note = (await page.getByTestId('command-secrets').textContent()) ?? '';
      if (c.passphrase) {
        expect(note).toContain('passphrase.txt');
        writeFileSync(join(shell, 'passphrase.txt'), c.passphrase);
      }
      if (c.encryptWith) {
        expect(note).toContain('new-passphrase.txt');
        writeFileSync(join(shell, 'new-passphrase.txt'), c.encryptWith);
      }
    }
    // qemu-img's own PBKDF2 timing fails now and then on a busy machine: that alone is retried.
    let ran = spawnSync('sh', ['-ec', command], { cwd: shell, encoding: 'utf8' });
    for (let attempt = 1; attempt < 5 && ran.stderr.includes('Unable to get accurate CPU usage'); attempt++)
      ran = spawnSync('sh', ['-ec', command], { cwd: shell, encoding: 'utf8' });
    expect(ran.stderr, command).toBe('');
    expect(ran.status, command).toBe(0);
    const theirs = join(shell, download.suggestedFilename());
    expect(compare(ours, theirs, c.encryptWith !== undefined).stdout, command).toBe('Images are identical.\n');
    expect(command.split('\n').at(-1)).toMatch(c.passphrase ? /--image-opts/ : / -f \w+/);
  });
}
