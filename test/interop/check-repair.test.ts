/**
 * check -r leaks|all repairs leaked clusters in place as qemu-img does: the same stdout, stderr,
 * exit code and the same repaired file, byte for byte. Corruptions are refused untouched.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskimg, firstDifference, qemuImg, qemuImgOk } from './support.ts';

let dir: string;
let serial = 0;
const file = (name: string) => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskimg-repair-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * An image qemu-img made (header 0, reftable 1, refblock 2, L1 3, L2 4, data 5-9), two clusters
 * of 0xaa bytes appended (10, 11: nothing uses them), then `damage`d.
 */
function damaged(options: string, damage: (bytes: Buffer, refblock: number) => void): string {
  const path = file(`damaged-${serial++}.qcow2`);
  qemuImgOk('create', '-q', '-f', 'qcow2', ...(options ? ['-o', options] : []), path, '8M');
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 256k', '-c', 'write -P 2 1M 64k', path], { stdio: 'ignore' });
  const bytes = Buffer.concat([readFileSync(path), Buffer.alloc(2 * 65536, 0xaa)]);
  damage(bytes, Number(bytes.readBigUInt64BE(Number(bytes.readBigUInt64BE(48)))));
  writeFileSync(path, bytes);
  return path;
}

async function repairBoth(source: string, args: string[]): Promise<{ ours: string; theirs: string }> {
  const theirs = file(`theirs-${serial}.qcow2`);
  const ours = file(`ours-${serial++}.qcow2`);
  copyFileSync(source, theirs);
  copyFileSync(source, ours);
  const expected = qemuImg('check', ...args, theirs);
  const run = await diskimg('check', ...args, ours);
  const named = (text: string, path: string) => text.replaceAll(path, 'FILE').replaceAll(path.slice(path.lastIndexOf('/') + 1), 'FILE');
  expect({ code: run.code, stdout: named(run.stdout, ours), stderr: run.stderr }).toEqual({
    code: expected.code,
    stdout: named(expected.stdout, theirs),
    stderr: expected.stderr.replaceAll('qemu-img', 'diskimg'),
  });
  expect(firstDifference(ours, theirs)).toBeNull();
  return { ours, theirs };
}

describe('check -r leaks|all', () => {
  const leaks: [string, string, (b: Buffer, refblock: number) => void][] = [
    ['the header’s refcount too high', '', (b, rb) => b.writeUInt16BE(2, rb)],
    ['a refcount on a cluster nothing uses (zeroed when freed)', '', (b, rb) => b.writeUInt16BE(1, rb + 10 * 2)],
    ['several, 8-bit refcounts', 'refcount_bits=8', (b, rb) => ((b[rb] = 3), (b[rb + 10] = 2), (b[rb + 11] = 1))],
    ['several, 1-bit refcounts', 'refcount_bits=1', (b, rb) => (b[rb + 1] |= 0x0c)],
  ];
  for (const [name, options, damage] of leaks) {
    for (const mode of ['leaks', 'all']) {
      it(`${name}: -r ${mode}, human and json`, async () => {
        const source = damaged(options, damage);
        expect(qemuImg('check', source).code).toBe(3);
        const { ours } = await repairBoth(source, ['-r', mode]);
        expect(qemuImg('check', ours).code).toBe(0);
        await repairBoth(source, ['--output=json', '-r', mode]);
      });
    }
  }

  it('a clean image: nothing to repair, nothing written', async () => {
    const source = damaged('', () => {});
    const { ours } = await repairBoth(source, ['-r', 'all']);
    expect(firstDifference(ours, source)).toBeNull();
  });

  it('refuses corruptions, and a bad -r value, before any write', async () => {
    const source = damaged('', (b, rb) => (b.writeUInt16BE(0, rb + 6 * 2), b.writeUInt16BE(2, rb)));
    const copy = file('corrupt-copy.qcow2');
    copyFileSync(source, copy);
    const run = await diskimg('check', '-r', 'all', copy);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'diskimg: The image has corruptions: repairing them (-r all) is not supported by diskimg yet; nothing was changed (qemu-img check -r all repairs them)\n',
    );
    expect(firstDifference(copy, source)).toBeNull();
    const bad = await diskimg('check', '-r', 'foo', copy);
    expect(bad).toEqual({
      ...qemuImg('check', '-r', 'foo', copy),
      stderr: qemuImg('check', '-r', 'foo', copy).stderr.replaceAll('qemu-img', 'diskimg'),
    });
  });
});
