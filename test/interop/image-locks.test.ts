/**
 * The verbs that change an image in place refuse one that another process holds, as qemu-img
 * does: qemu-io keeps the image (or its backing file) open for writing, as a running VM would,
 * and each verb must print qemu-img's words and exit code and leave the file as it was. Once the
 * holder is gone, the same verb works.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { diskimg, qemuImg, qemuImgOk } from './support.ts';

let dir: string;
const holders: ChildProcess[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskimg-locks-'));
});
afterEach(() => {
  for (const holder of holders.splice(0)) holder.kill('SIGKILL');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** qemu-io with the image open read-write until killed; resolves once its locks are taken. */
async function hold(path: string): Promise<void> {
  const holder = spawn('qemu-io', ['-f', 'qcow2', path], { stdio: ['pipe', 'pipe', 'pipe'] });
  holders.push(holder);
  // Its prompt comes once the image is open (and locked).
  await new Promise<void>((resolve, reject) => {
    holder.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('qemu-io>') && resolve());
    holder.once('exit', () => reject(new Error('qemu-io ended before it held the image')));
    holder.stdin.write('\n');
  });
}

/** A base with data and an overlay on it, fresh for each case. */
function chain(name: string): { base: string; top: string } {
  const base = join(dir, `${name}-base.qcow2`);
  const top = join(dir, `${name}-top.qcow2`);
  qemuImgOk('create', '-q', '-f', 'qcow2', base, '64M');
  qemuImgOk('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', top);
  return { base, top };
}

const VERBS: Array<[string, (c: { base: string; top: string }) => string[], 'base' | 'top']> = [
  ['resize', (c) => ['resize', c.base, '+1M'], 'base'],
  ['snapshot -c', (c) => ['snapshot', '-c', 'one', c.base], 'base'],
  ['check -r all', (c) => ['check', '-r', 'all', c.base], 'base'],
  ['commit (its image held)', (c) => ['commit', c.top], 'top'],
  ['commit (its backing file held)', (c) => ['commit', c.top], 'base'],
  ['rebase (its image held)', (c) => ['rebase', '-b', '', c.top], 'top'],
  ['rebase (its backing file held)', (c) => ['rebase', '-b', '', c.top], 'base'],
  ['amend', (c) => ['amend', '-o', 'lazy_refcounts=on', c.base], 'base'],
  ['bitmap --add', (c) => ['bitmap', '--add', c.base, 'b0'], 'base'],
];

describe('a verb that writes in place refuses an image another process holds', () => {
  for (const [name, argv, held] of VERBS) {
    it(name, async () => {
      const theirs = chain(`theirs-${name.replace(/\W+/g, '-')}`);
      const ours = chain(`ours-${name.replace(/\W+/g, '-')}`);
      await hold(theirs[held]);
      const expected = qemuImg(...argv(theirs));
      await hold(ours[held]);
      const before = [readFileSync(ours.base), readFileSync(ours.top)];
      const run = await diskimg(...argv(ours));
      const words = (text: string, c: { base: string; top: string }) =>
        text.replaceAll(c.base, 'BASE').replaceAll(c.top, 'TOP').replaceAll('qemu-img:', 'diskimg:');
      expect(expected.code).toBe(1);
      expect({ code: run.code, stderr: words(run.stderr, ours) }).toEqual({ code: expected.code, stderr: words(expected.stderr, theirs) });
      expect([readFileSync(ours.base), readFileSync(ours.top)]).toEqual(before);

      // Let go, the same verb works.
      for (const holder of holders.splice(0)) holder.kill('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await diskimg(...argv(ours))).code).toBe(0);
    });
  }
});
