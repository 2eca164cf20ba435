/**
 * qemu-img's other verbs in the page, each writing a new file: resize while converting, a chain
 * merged into one file, snapshot create/delete, amend. Every output is checked by the real
 * qemu-img: check clean, compare identical to what the command the page shows makes, info.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { pattern } from '../interop/fixtures.ts';

const root = mkdtempSync(join(tmpdir(), 'diskimg-e2e-verbs-'));
test.afterAll(() => rmSync(root, { recursive: true, force: true }));
const MiB = 1 << 20;

const run = (cwd: string, command: string, ...args: string[]) => execFileSync(command, args, { cwd, encoding: 'utf8', stdio: 'pipe' });
const info = (file: string) => JSON.parse(run(root, 'qemu-img', 'info', '--output=json', file)) as Record<string, unknown>;

/** A case's folder: `made` holds the fixture the page opens, `shell` a copy where the shown command runs. */
function folders(name: string): { made: string; shell: string } {
  const made = join(root, name, 'made');
  const shell = join(root, name, 'shell');
  mkdirSync(made, { recursive: true });
  mkdirSync(shell, { recursive: true });
  return { made, shell };
}

/** An 8 MiB qcow2 whose data ends at 3 MiB: text, then random bytes. */
function qcow2Disk(dir: string, name = 'disk.qcow2'): string {
  writeFileSync(join(dir, 'source.raw'), Buffer.concat([pattern('text', 2 * MiB, 1), pattern('random', MiB, 2), Buffer.alloc(5 * MiB)]));
  run(dir, 'qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'qcow2', 'source.raw', name);
  rmSync(join(dir, 'source.raw'));
  return name;
}

async function open(page: Page, files: string[]): Promise<void> {
  await page.goto('/');
  await page.getByLabel('Open disk image').setInputFiles(files);
  await expect(page.getByTestId('format')).toBeVisible();
}

/** Clicks `button` and saves the download beside the case's folders. */
async function download(page: Page, button: string, into: string): Promise<string> {
  const downloading = page.waitForEvent('download', { timeout: 60_000 });
  await page.getByRole('button', { name: button, exact: true }).click();
  const done = await downloading;
  const file = join(into, done.suggestedFilename());
  await done.saveAs(file);
  return file;
}

/** Runs the command the page shows in `shell` (a copy of the inputs); returns the file it made. */
function runShown(command: string, shell: string, output: string): string {
  const ran = spawnSync('sh', ['-ec', command], { cwd: shell, encoding: 'utf8' });
  expect(ran.stderr, command).toBe('');
  expect(ran.status, command).toBe(0);
  return join(shell, basename(output));
}

test.beforeEach(({ page }) => page.addInitScript(() => delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker));

test.describe('resize while converting', () => {
  for (const [label, format, sizeText, size] of [
    ['grows a qcow2', 'qcow2', '40M', 40 * MiB],
    ['grows to raw', 'raw', '20M', 20 * MiB],
  ] as const) {
    test(`${label}: the guest's steps are said, and the shown convert && resize makes the same disk`, async ({ page }) => {
      const { made, shell } = folders(`resize-${format}`);
      const input = qcow2Disk(made);
      copyFileSync(join(made, input), join(shell, input));
      await open(page, [join(made, input)]);
      if (format === 'raw') await page.getByLabel('Output format').selectOption('raw');
      await page.getByLabel('New virtual size').fill(sizeText);
      await expect(page.getByTestId('resize-grow')).toContainText('the guest must grow them');
      await page.getByText('Growing the partition and file system inside the guest').click();
      await expect(page.getByTestId('guest-growpart')).toHaveText('sudo growpart /dev/vda 1');
      await expect(page.getByTestId('guest-xfs')).toHaveText('sudo xfs_growfs /');
      const command = (await page.getByTestId('command').textContent()) ?? '';
      expect(command).toContain(` && qemu-img resize -f ${format} `);
      expect(command.endsWith(` ${size}`)).toBe(true);
      const ours = await download(page, 'Convert', join(root, `resize-${format}`));
      expect(info(ours)['virtual-size']).toBe(size);
      if (format === 'qcow2') expect(run(root, 'qemu-img', 'check', ours)).toContain('No errors were found');
      const theirs = runShown(command, shell, ours);
      expect(run(root, 'qemu-img', 'compare', ours, theirs)).toBe('Images are identical.\n');
    });
  }

  test('an encrypted output grown: the resize in the command opens it with its key', async ({ page }) => {
    const NEW_PASSPHRASE = 'new, one';
    const { made, shell } = folders('resize-encrypted');
    const input = qcow2Disk(made);
    copyFileSync(join(made, input), join(shell, input));
    writeFileSync(join(shell, 'new-passphrase.txt'), NEW_PASSPHRASE);
    await open(page, [join(made, input)]);
    await page.getByLabel('New virtual size').fill('16M');
    await page.getByLabel('Encrypt the new image').check();
    await page.getByLabel('Passphrase for the new image').fill(NEW_PASSPHRASE);
    await page.getByLabel('The same passphrase again').fill(NEW_PASSPHRASE);
    const command = (await page.getByTestId('command').textContent()) ?? '';
    expect(command).toContain(
      " && qemu-img resize --object secret,id=sec0,file=new-passphrase.txt --image-opts 'driver=qcow2,file.filename=disk-converted.qcow2,encrypt.key-secret=sec0' 16777216",
    );
    const ours = await download(page, 'Convert', join(root, 'resize-encrypted'));
    const theirs = runShown(command, shell, ours);
    const opened = (file: string) => `driver=qcow2,file.filename=${file},encrypt.key-secret=k`;
    const compared = spawnSync(
      'qemu-img',
      ['compare', '--object', `secret,id=k,data=${NEW_PASSPHRASE.replace(/,/g, ',,')}`, '--image-opts', opened(ours), opened(theirs)],
      { encoding: 'utf8' },
    );
    expect(compared.stdout, compared.stderr).toBe('Images are identical.\n');
    expect(info(ours)['virtual-size']).toBe(16 * MiB);
  });

  test('a shrink waits for a confirmation, then cuts the empty end off', async ({ page }) => {
    const { made, shell } = folders('shrink');
    const input = qcow2Disk(made);
    copyFileSync(join(made, input), join(shell, input));
    await open(page, [join(made, input)]);
    await page.getByLabel('New virtual size').fill('4M');
    await expect(page.getByTestId('resize-shrink')).toContainText('is lost');
    const convert = page.getByRole('button', { name: 'Convert', exact: true });
    await expect(convert).toBeDisabled();
    await page.getByLabel('I understand that everything past 4 MiB is lost').check();
    const command = (await page.getByTestId('command').textContent()) ?? '';
    expect(command).toContain(' && qemu-img resize --shrink -f qcow2 ');
    const ours = await download(page, 'Convert', join(root, 'shrink'));
    expect(info(ours)['virtual-size']).toBe(4 * MiB);
    expect(run(root, 'qemu-img', 'check', ours)).toContain('No errors were found');
    const theirs = runShown(command, shell, ours);
    expect(run(root, 'qemu-img', 'compare', ours, theirs)).toBe('Images are identical.\n');
  });

  test('a shrink below the data is refused with the numbers, and a size qemu-img cannot read is said', async ({ page }) => {
    const { made } = folders('shrink-refused');
    await open(page, [join(made, qcow2Disk(made))]);
    const convert = page.getByRole('button', { name: 'Convert', exact: true });
    await page.getByLabel('New virtual size').fill('20 apples');
    await expect(page.getByTestId('resize-invalid')).toContainText('as qemu-img reads');
    await page.getByLabel('New virtual size').fill('1000');
    await expect(page.getByTestId('resize-invalid')).toContainText('512-byte sectors');
    await expect(convert).toBeDisabled();
    await page.getByLabel('New virtual size').fill('2M');
    await page.getByLabel('I understand that everything past 2 MiB is lost').check();
    await expect(page.getByTestId('resize-refused')).toHaveText(
      `The disk holds data up to byte ${(3 * MiB).toLocaleString('en')}: it cannot be made smaller than ${3 * MiB} bytes without losing it.`,
    );
    await expect(convert).toBeDisabled();
    // Down to the data's end is allowed.
    await page.getByLabel('New virtual size').fill('3M');
    await expect(page.getByTestId('resize-refused')).toHaveCount(0);
    // Another size asks again: the confirmation named the last one.
    await expect(convert).toBeDisabled();
    await page.getByLabel('I understand that everything past 3 MiB is lost').check();
    await expect(convert).toBeEnabled();
  });
});

test.describe('snapshots in a new file', () => {
  /** The disk of qcow2Disk with a snapshot 'first', then more data written over it. */
  function withSnapshot(dir: string): string {
    const name = qcow2Disk(dir, 'vm.qcow2');
    run(dir, 'qemu-img', 'snapshot', '-c', 'first', name);
    run(dir, 'qemu-io', '-f', 'qcow2', '-c', 'write -P 0x5a 1M 2M', name);
    return name;
  }
  const snapshotNames = (file: string) => ((info(file).snapshots as Array<{ name: string }> | undefined) ?? []).map((s) => s.name);

  test('create: the copy lists the new snapshot, is clean, and holds what cp + qemu-img snapshot -c gives', async ({ page }) => {
    const { made, shell } = folders('snapshot-create');
    const input = withSnapshot(made);
    copyFileSync(join(made, input), join(shell, input));
    await open(page, [join(made, input)]);
    const section = page.getByTestId('snapshot-file');
    await section.getByLabel('Name of the new snapshot').fill('first');
    await expect(section.getByText('already has a snapshot of that name')).toBeVisible();
    await expect(section.getByRole('button', { name: 'Write a copy with this snapshot' })).toBeDisabled();
    await section.getByLabel('Name of the new snapshot').fill('after update');
    await section.getByText('Equivalent commands').click();
    const command = (await page.getByTestId('snapshot-create-command').textContent()) ?? '';
    expect(command).toBe("cp vm.qcow2 vm-with-after-update.qcow2 && qemu-img snapshot -c 'after update' vm-with-after-update.qcow2");
    const ours = await download(page, 'Write a copy with this snapshot', join(root, 'snapshot-create'));
    await expect(page.getByTestId('snapshot-file-status-outcome')).toContainText('vm-with-after-update.qcow2 was downloaded');
    expect(snapshotNames(join(made, input))).toEqual(['first']);
    expect(run(root, 'qemu-img', 'check', ours)).toContain('No errors were found');
    expect(snapshotNames(ours)).toEqual(['first', 'after update']);
    expect(run(root, 'qemu-img', 'snapshot', '-l', ours)).toContain('after update');
    const theirs = runShown(command, shell, ours);
    expect(run(root, 'qemu-img', 'compare', ours, theirs)).toBe('Images are identical.\n');
    for (const state of ['first', 'after update']) {
      const read = (file: string, out: string) => (
        run(root, 'qemu-img', 'convert', '-l', `snapshot.name=${state}`, '-O', 'raw', file, out),
        out
      );
      const a = read(ours, join(root, 'snapshot-create', 'ours.raw'));
      const b = read(theirs, join(root, 'snapshot-create', 'theirs.raw'));
      expect(run(root, 'qemu-img', 'compare', '-f', 'raw', '-F', 'raw', a, b)).toBe('Images are identical.\n');
    }
  });

  test('delete: the copy no longer lists it, byte for byte what cp + qemu-img snapshot -d gives', async ({ page }) => {
    const { made, shell } = folders('snapshot-delete');
    const input = withSnapshot(made);
    copyFileSync(join(made, input), join(shell, input));
    await open(page, [join(made, input)]);
    const section = page.getByTestId('snapshot-file');
    await section.getByLabel('Snapshot to remove').selectOption('first');
    await section.getByText('Equivalent commands').click();
    const command = (await page.getByTestId('snapshot-delete-command').textContent()) ?? '';
    expect(command).toBe('cp vm.qcow2 vm-without-first.qcow2 && qemu-img snapshot -d first vm-without-first.qcow2');
    const ours = await download(page, 'Write a copy without it', join(root, 'snapshot-delete'));
    expect(run(root, 'qemu-img', 'check', ours)).toContain('No errors were found');
    expect(snapshotNames(ours)).toEqual([]);
    expect(run(root, 'qemu-img', 'snapshot', '-l', ours)).toBe('');
    const theirs = runShown(command, shell, ours);
    run(root, 'cmp', ours, theirs);
  });
});

test('a chain merged into one file: Convert writes it, and the qemu-img commit commands shown on copies make the same disk', async ({
  page,
}) => {
  const { made, shell } = folders('merge');
  writeFileSync(join(made, 'base.raw'), Buffer.concat([pattern('text', 3 * MiB, 4), pattern('random', MiB, 5), Buffer.alloc(2 * MiB)]));
  run(made, 'qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', 'mid.qcow2');
  run(made, 'qemu-io', '-f', 'qcow2', '-c', 'write -P 0x33 1M 2M', 'mid.qcow2');
  run(made, 'qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', 'top.qcow2');
  run(made, 'qemu-io', '-f', 'qcow2', '-c', 'write -P 0x44 2560k 1M', 'top.qcow2');
  const files = ['top.qcow2', 'mid.qcow2', 'base.raw'];
  for (const name of files) copyFileSync(join(made, name), join(shell, name));
  await open(
    page,
    files.map((name) => join(made, name)),
  );
  const merge = page.getByTestId('merge');
  await expect(merge).toContainText('top.qcow2 and its 2 backing files');
  await expect(merge).toContainText('writes top.qcow2’s data into mid.qcow2 itself');
  await merge.getByText('The same with qemu-img commit, on copies').click();
  const commands = (await page.getByTestId('commit-commands').textContent()) ?? '';
  expect(commands).toBe(
    [
      'cp base.raw top-merged.raw',
      'cp mid.qcow2 mid-commit.qcow2 && qemu-img rebase -u -f qcow2 -b top-merged.raw -F raw mid-commit.qcow2',
      'cp top.qcow2 top-commit.qcow2 && qemu-img rebase -u -f qcow2 -b mid-commit.qcow2 -F qcow2 top-commit.qcow2',
      'qemu-img commit -q -f qcow2 top-commit.qcow2 && qemu-img commit -q -f qcow2 mid-commit.qcow2',
      'rm top-commit.qcow2 mid-commit.qcow2',
    ].join('\n'),
  );
  const ours = await download(page, 'Convert', join(root, 'merge'));
  expect(info(ours)['backing-filename']).toBeUndefined();
  expect(run(root, 'qemu-img', 'check', ours)).toContain('No errors were found');
  const theirs = runShown(commands, shell, 'top-merged.raw');
  expect(run(root, 'qemu-img', 'compare', '-F', 'raw', ours, theirs)).toBe('Images are identical.\n');
  // The commands changed copies only: the chain they ran beside is still the one the page opened.
  for (const name of files) run(root, 'cmp', join(made, name), join(shell, name));
});

test('amend into a new file: refcount width and lazy refcounts as qemu-img convert -o writes them, and the snapshots it drops said, with amend on a copy', async ({
  page,
}) => {
  const { made, shell } = folders('amend');
  const input = qcow2Disk(made, 'vm.qcow2');
  run(made, 'qemu-img', 'snapshot', '-c', 'first', input);
  copyFileSync(join(made, input), join(shell, input));
  await open(page, [join(made, input)]);
  await page.getByLabel('Refcount width').selectOption('4');
  await page.getByLabel('Lazy refcounts').check();
  await page.getByText('Amend by converting: what is kept, what is not').click();
  await expect(page.getByTestId('amend-snapshots')).toContainText('the 1 internal snapshot of this image will not be in the new file');
  const amend = (await page.getByTestId('amend-command').textContent()) ?? '';
  expect(amend).toBe(
    'cp vm.qcow2 vm-amended.qcow2 && qemu-img amend -f qcow2 -o compat=1.1,refcount_bits=4,lazy_refcounts=on vm-amended.qcow2',
  );
  const command = (await page.getByTestId('command').textContent()) ?? '';
  expect(command).toContain('-o refcount_bits=4,lazy_refcounts=on');
  const ours = await download(page, 'Convert', join(root, 'amend'));
  const theirs = runShown(command, shell, ours);
  run(root, 'cmp', ours, theirs);
  expect(run(root, 'qemu-img', 'check', ours)).toContain('No errors were found');
  const specific = (file: string) => (info(file)['format-specific'] as { data: Record<string, unknown> }).data;
  expect(specific(ours)).toMatchObject({ compat: '1.1', 'refcount-bits': 4, 'lazy-refcounts': true });
  const amended = runShown(amend, shell, 'vm-amended.qcow2');
  expect(specific(amended)).toMatchObject({ compat: '1.1', 'refcount-bits': 4, 'lazy-refcounts': true });
  expect(info(amended).snapshots).toHaveLength(1);
  expect(info(ours).snapshots).toBeUndefined();
  expect(run(root, 'qemu-img', 'compare', ours, amended)).toBe('Images are identical.\n');
});

test('amend to compat 0.10 turns the 1.1-only options off', async ({ page }) => {
  const { made } = folders('amend-010');
  await open(page, [join(made, qcow2Disk(made))]);
  await page.getByLabel('Lazy refcounts').check();
  await page.getByLabel('Compatibility').selectOption('0.10');
  await expect(page.getByLabel('Lazy refcounts')).toBeDisabled();
  await expect(page.getByLabel('Refcount width')).toBeDisabled();
  const command = (await page.getByTestId('command').textContent()) ?? '';
  expect(command).toContain('-o compat=0.10 ');
  expect(command).not.toContain('lazy_refcounts');
  const ours = await download(page, 'Convert', join(root, 'amend-010'));
  expect((info(ours)['format-specific'] as { data: Record<string, unknown> }).data).toMatchObject({ compat: '0.10' });
});

test('a snapshot copy shows its progress and speed, and cancel removes the partial file', async ({ page }) => {
  const { made } = folders('snapshot-cancel');
  run(made, 'qemu-img', 'create', '-q', '-f', 'qcow2', 'big.qcow2', '1G');
  run(made, 'qemu-io', '-f', 'qcow2', '-c', 'write -P 0x33 0 400M', 'big.qcow2');
  await open(page, [join(made, 'big.qcow2')]);
  const section = page.getByTestId('snapshot-file');
  await section.getByLabel('Name of the new snapshot').fill('s1');
  await section.getByRole('button', { name: 'Write a copy with this snapshot' }).click();
  await expect(section.getByTestId('progress-text')).toContainText('MB/s');
  await section.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('snapshot-file-status-outcome')).toHaveText('Cancelled: nothing was saved');
  // Nothing staged stays behind in the browser's private storage.
  await expect
    .poll(() =>
      page.evaluate(async () => {
        const names: string[] = [];
        for await (const name of ((await navigator.storage.getDirectory()) as unknown as { keys(): AsyncIterable<string> }).keys())
          names.push(name);
        return names.filter((name) => name.includes('big-with-s1'));
      }),
    )
    .toEqual([]);
});

test('amend in a new file keeps the snapshots: byte for byte what cp + the qemu-img amend shown gives', async ({ page }) => {
  const { made, shell } = folders('amend-copy');
  const input = qcow2Disk(made, 'vm.qcow2');
  run(made, 'qemu-img', 'snapshot', '-c', 'first', input);
  copyFileSync(join(made, input), join(shell, input));
  await open(page, [join(made, input)]);
  const section = page.getByTestId('amend-file');
  await expect(section).toContainText('Now: compat 1.1, lazy refcounts off, 16-bit refcounts');
  await section.getByLabel('Change compat to').selectOption('0.10');
  const amend = (await section.getByTestId('amend-copy-command').textContent()) ?? '';
  expect(amend).toBe('cp vm.qcow2 vm-amended.qcow2 && qemu-img amend -f qcow2 -o compat=0.10 vm-amended.qcow2');
  const ours = await download(page, 'Write the amended copy', join(root, 'amend-copy'));
  const theirs = runShown(amend, shell, 'vm-amended.qcow2');
  run(root, 'cmp', ours, theirs);
  expect(run(root, 'qemu-img', 'check', ours)).toContain('No errors were found');
  expect((info(ours)['format-specific'] as { data: Record<string, unknown> }).data).toMatchObject({ compat: '0.10' });
  expect(info(ours).snapshots).toHaveLength(1);
  run(root, 'cmp', join(made, input), join(shell, input));
});

test('amend in a new file adds a passphrase to a LUKS-encrypted qcow2: qemu-img opens the copy with either', async ({ page }) => {
  const { made, shell } = folders('amend-luks');
  run(
    made,
    'qemu-img',
    'create',
    '-q',
    '--object',
    'secret,id=k,data=first-pass',
    '-f',
    'qcow2',
    '-o',
    'encrypt.format=luks,encrypt.key-secret=k,encrypt.iter-time=10',
    'locked.qcow2',
    '16M',
  );
  await open(page, [join(made, 'locked.qcow2')]);
  const section = page.getByTestId('amend-file');
  await section.getByLabel('Passphrases (LUKS key slots)').selectOption('add');
  await section.getByLabel('Passphrase to add').fill('second-pass');
  await section.getByLabel('The same again').fill('second-pass');
  await expect(section.getByText('Unlock the image above first')).toBeVisible();
  await expect(section.getByRole('button', { name: 'Write the amended copy' })).toBeDisabled();
  await page.getByLabel('Passphrase', { exact: true }).fill('first-pass');
  await page.getByRole('button', { name: 'Unlock' }).click();
  await expect(section.getByText('Unlock the image above first')).toHaveCount(0);
  const ours = await download(page, 'Write the amended copy', join(root, 'amend-luks'));
  // The command shown does the same on a copy, the passphrases in the files it names.
  copyFileSync(join(made, 'locked.qcow2'), join(shell, 'locked.qcow2'));
  writeFileSync(join(shell, 'passphrase.txt'), 'first-pass');
  writeFileSync(join(shell, 'new-passphrase.txt'), 'second-pass');
  const theirs = runShown((await section.getByTestId('amend-copy-command').textContent()) ?? '', shell, 'locked-amended.qcow2');
  for (const file of [ours, theirs])
    expect(
      run(
        root,
        'qemu-img',
        'check',
        '--object',
        'secret,id=k,data=second-pass',
        '--image-opts',
        `driver=qcow2,file.filename=${file},encrypt.key-secret=k`,
      ),
    ).toContain('No errors were found');
  for (const secret of ['first-pass', 'second-pass'])
    expect(
      run(
        root,
        'qemu-img',
        'check',
        '--object',
        `secret,id=k,data=${secret}`,
        '--image-opts',
        `driver=qcow2,file.filename=${ours},encrypt.key-secret=k`,
      ),
    ).toContain('No errors were found');
});
