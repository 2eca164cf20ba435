/**
 * diskimg dd against qemu-img dd on the same inputs: raw and qcow2 outputs byte-identical (both
 * deterministic: every cluster written, in order), the other formats the same disk (their files
 * carry timestamps and UUIDs), and bad operands get qemu-img's words and exit code.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskimg, firstDifference, qemuImg, qemuImgOk } from './support.ts';

let dir: string;
let serial = 0;
const file = (name: string) => join(dir, name);
let qcow2Source: string;
let rawSource: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskimg-dd-'));
  qcow2Source = file('source.qcow2');
  qemuImgOk('create', '-q', '-f', 'qcow2', qcow2Source, '3M');
  execFileSync(
    'qemu-io',
    ['-f', 'qcow2', '-c', 'write -P 0xaa 0 100k', '-c', 'write -P 0xbb 1M 64k', '-c', 'write -P 0xcc 3000k 5k', qcow2Source],
    {
      stdio: 'ignore',
    },
  );
  rawSource = file('source.raw');
  qemuImgOk('convert', '-O', 'raw', qcow2Source, rawSource);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs dd with `args` (if= and of= added) by both tools; returns the two outputs. */
async function ddBoth(args: string[], source = qcow2Source): Promise<{ theirs: string; ours: string }> {
  const theirs = file(`theirs-${serial}`);
  const ours = file(`ours-${serial++}`);
  const expected = qemuImg('dd', ...args, `if=${source}`, `of=${theirs}`);
  const run = await diskimg('dd', ...args, `if=${source}`, `of=${ours}`);
  expect({ code: run.code, stdout: run.stdout, stderr: run.stderr }).toEqual({
    code: expected.code,
    stdout: expected.stdout,
    stderr: expected.stderr.replaceAll('qemu-img:', 'diskimg:'),
  });
  return { theirs, ours };
}

describe('dd: byte-identical to qemu-img dd', () => {
  const ranges = [
    [],
    ['bs=64k'],
    ['bs=1000', 'count=7', 'skip=3'],
    ['bs=512', 'skip=100'],
    ['bs=1M', 'count=2'],
    ['bs=4k', 'count=0'],
    ['bs=3M', 'count=5'],
  ];
  for (const format of ['raw', 'qcow2']) {
    for (const range of ranges) {
      it(`-O ${format} ${range.join(' ') || '(defaults)'}`, async () => {
        const { theirs, ours } = await ddBoth(['-O', format, ...range]);
        expect(firstDifference(ours, theirs)).toBeNull();
        if (format === 'qcow2') expect(qemuImg('check', ours).code).toBe(0);
      });
    }
  }
  it('from a raw input, -f raw, into qcow2', async () => {
    const { theirs, ours } = await ddBoth(['-f', 'raw', '-O', 'qcow2', 'bs=8k', 'skip=5'], rawSource);
    expect(firstDifference(ours, theirs)).toBeNull();
  });
  it('skip past the end: the warning, and an empty image', async () => {
    const { theirs, ours } = await ddBoth(['-O', 'qcow2', 'skip=100000']);
    expect(firstDifference(ours, theirs)).toBeNull();
  });
});

describe('dd: the other output formats hold the same disk', () => {
  for (const format of ['vpc', 'vdi', 'vhdx', 'vmdk']) {
    it(`-O ${format}`, async () => {
      const { theirs, ours } = await ddBoth(['-O', format, 'bs=1000', 'count=2000', 'skip=3']);
      expect(qemuImg('compare', '-f', format, '-F', format, ours, theirs).code).toBe(0);
      if (format !== 'vpc') expect(qemuImg('check', '-f', format, ours).code).toBe(0); // qemu-img has no check for VHD (exit 63)
    });
  }
});

describe('dd: bad operands get qemu-img’s errors', () => {
  const cases = [
    ['bs=0'],
    ['bs=3G'],
    ['bs=1x'],
    ['count=-1'],
    ['count=99999999999999999999'],
    ['skip=x'],
    ['foo'],
    ['foo=1'],
    ['if=only-input'],
    ['-O', 'nosuchformat', `if=SOURCE`, 'of=OUT'],
    ['if=/nonexistent/input', 'of=OUT'],
    ['if=SOURCE', 'of=/nonexistent/dir/out'],
  ];
  for (const operands of cases) {
    it(operands.join(' '), async () => {
      const out = file(`bad-${serial++}`);
      const args = operands.map((a) => a.replace('SOURCE', qcow2Source).replace('OUT', out));
      const expected = qemuImg('dd', ...args);
      const run = await diskimg('dd', ...args);
      expect(expected.code).not.toBe(0);
      expect({ code: run.code, stderr: run.stderr }).toEqual({
        code: expected.code,
        stderr: expected.stderr.replaceAll('qemu-img:', 'diskimg:'),
      });
      if (operands.includes('-O')) expect(existsSync(out)).toBe(false);
    });
  }
  it('refuses to write over its input', async () => {
    const run = await diskimg('dd', `if=${qcow2Source}`, `of=${qcow2Source}`);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('diskimg never writes to its input');
  });
});
