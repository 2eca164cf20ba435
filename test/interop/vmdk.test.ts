/**
 * Reading every kind of VMDK qemu-img writes: our raw conversion must equal qemu-img's byte for
 * byte, and info, map and check must print what qemu-img prints.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vmdkFixtures, type VmdkFixture } from './vmdk-fixtures.ts';
import { diskimg, firstDifference, qemuImg, qemuImgOk } from './support.ts';

let out: string;
beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'diskimg-vmdk-'));
});

describe.each(vmdkFixtures().map((f) => [f.name, f] as [string, VmdkFixture]))('%s', (name, fixture) => {
  it('converts to raw exactly as qemu-img does', async () => {
    const ours = join(out, `${name}.ours.raw`);
    const theirs = join(out, `${name}.qemu.raw`);
    qemuImgOk('convert', '-O', 'raw', fixture.file, theirs);
    const run = await diskimg('convert', '-O', 'raw', fixture.file, ours);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    if (fixture.sparse) {
      expect(qemuImg('compare', '-f', 'raw', '-F', 'raw', ours, theirs).stdout).toBe('Images are identical.\n');
      expect(statSync(ours).size).toBe(statSync(theirs).size);
      expect(statSync(ours).blocks * 512).toBeLessThan(16 * 1024 * 1024);
    } else {
      expect(firstDifference(ours, theirs)).toBeNull();
    }
    rmSync(ours);
    rmSync(theirs);
  });

  it('prints info as qemu-img does (JSON and human)', async () => {
    for (const flags of [['--output=json'], [], ...(fixture.chain ? [['--output=json', '--backing-chain'], ['--backing-chain']] : [])]) {
      const expected = qemuImg('info', ...flags, fixture.file);
      const run = await diskimg('info', ...flags, fixture.file);
      expect(run.code).toBe(expected.code);
      expect(run.stdout).toBe(expected.stdout);
    }
  });

  if (fixture.mapDiffers === undefined)
    it('prints map as qemu-img does', async () => {
      for (const flags of [['--output=json'], []]) {
        const expected = qemuImg('map', ...flags, fixture.file);
        const run = await diskimg('map', ...flags, fixture.file);
        expect(run.stdout).toBe(expected.stdout);
        expect(run.code).toBe(expected.code);
      }
    });

  it('checks as qemu-img does', async () => {
    for (const flags of [['--output=json'], []]) {
      const expected = qemuImg('check', ...flags, fixture.file);
      const run = await diskimg('check', ...flags, fixture.file);
      expect(run.stdout).toBe(expected.stdout);
      expect(run.code).toBe(expected.code);
    }
  });
});

describe('snapshot children', () => {
  it('refuse to read their parent once its CID changed, as qemu-img does', async () => {
    const dir = mkdtempSync(join(out, 'cid-'));
    const base = vmdkFixtures()
      .find((f) => f.name === 'child.vmdk')!
      .file.replace('child.vmdk', 'base.vmdk');
    copyFileSync(base, join(dir, 'base.vmdk'));
    qemuImgOk('create', '-q', '-f', 'vmdk', '-b', 'base.vmdk', '-F', 'vmdk', join(dir, 'child.vmdk'));
    // A write to the parent gives it a new CID: the child's parentCID no longer matches.
    qemuImgOk('convert', '-O', 'raw', join(dir, 'child.vmdk'), join(dir, 'before.raw'));
    expect((await diskimg('convert', '-O', 'raw', join(dir, 'child.vmdk'), join(dir, 'ours-before.raw'))).code).toBe(0);
    expect(firstDifference(join(dir, 'before.raw'), join(dir, 'ours-before.raw'))).toBeNull();
    execQemuIo(join(dir, 'base.vmdk'));
    expect(qemuImg('convert', '-O', 'raw', join(dir, 'child.vmdk'), join(dir, 'after.raw')).code).toBe(1);
    const run = await diskimg('convert', '-O', 'raw', join(dir, 'child.vmdk'), join(dir, 'ours-after.raw'));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /Invalid argument: .*child\.vmdk' cannot read its backing file: its parentCID [0-9a-f]+ is not the CID [0-9a-f]+ of/,
    );
    // map does not read data, and qemu-img's map does not check the CID either.
    expect((await diskimg('map', '--output=json', join(dir, 'child.vmdk'))).stdout).toBe(
      qemuImgOk('map', '--output=json', join(dir, 'child.vmdk')),
    );
  });
});

function execQemuIo(file: string): void {
  execFileSync('qemu-io', ['-f', 'vmdk', '-c', 'write -P 7 0 4k', file], { stdio: 'ignore' });
}

afterAll(() => rmSync(out, { recursive: true, force: true }));
