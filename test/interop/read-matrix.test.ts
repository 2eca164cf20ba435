/**
 * Reading every kind of qcow2 qemu-img writes: our raw conversion must equal qemu-img's byte for
 * byte, and info, map, snapshot and check must print what qemu-img prints.
 */
import { mkdtempSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, afterAll } from 'vitest';
import { fixtures, type Fixture } from './fixtures.ts';
import { diskimg, firstDifference, qemuImg, qemuImgOk } from './support.ts';

let out: string;
beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'diskimg-read-'));
});

describe.each(fixtures().map((f) => [f.name, f] as [string, Fixture]))('%s', (name, fixture) => {
  it('converts to raw exactly as qemu-img does', async () => {
    const ours = join(out, `${name}.ours.raw`);
    const theirs = join(out, `${name}.qemu.raw`);
    qemuImgOk('convert', '-O', 'raw', fixture.file, theirs);
    const run = await diskimg('convert', '-O', 'raw', fixture.file, ours);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    if (fixture.sparse) {
      // A 4 TiB file is compared through its holes, and ours must have kept them.
      expect(qemuImg('compare', '-f', 'raw', '-F', 'raw', ours, theirs).stdout).toBe('Images are identical.\n');
      expect(statSync(ours).size).toBe(statSync(theirs).size);
      expect(statSync(ours).blocks * 512).toBeLessThan(1024 * 1024);
    } else {
      expect(firstDifference(ours, theirs)).toBeNull();
    }
  });

  it('prints info as qemu-img does (JSON and human)', async () => {
    for (const flags of [['--output=json'], [], ...(fixture.chain ? [['--output=json', '--backing-chain'], ['--backing-chain']] : [])]) {
      const expected = qemuImg('info', ...flags, fixture.file);
      const run = await diskimg('info', ...flags, fixture.file);
      expect(run.code).toBe(expected.code);
      expect(run.stdout).toBe(expected.stdout);
    }
  });

  // Where qemu-img asks the file system about holes (fixture.mapDiffers says why), map cannot agree.
  if (fixture.mapDiffers === undefined)
    it('prints map as qemu-img does', async () => {
      for (const flags of [['--output=json'], []]) {
        const expected = qemuImg('map', ...flags, fixture.file);
        const run = await diskimg('map', ...flags, fixture.file);
        expect(run.stdout).toBe(expected.stdout);
        expect(run.code).toBe(expected.code);
      }
    });

  if (fixture.file.endsWith('.qcow2'))
    it('checks as qemu-img does', async () => {
      const expected = qemuImg('check', '--output=json', fixture.file);
      const run = await diskimg('check', '--output=json', fixture.file);
      expect(run.stdout).toBe(expected.stdout);
      expect(run.code).toBe(expected.code);
    });

  if (fixture.snapshots)
    it('lists and converts every snapshot as qemu-img does', async () => {
      expect((await diskimg('snapshot', '-l', fixture.file)).stdout).toBe(qemuImgOk('snapshot', '-l', fixture.file));
      for (const snapshot of fixture.snapshots ?? []) {
        const ours = join(out, `${name}.${snapshot}.ours.raw`);
        const theirs = join(out, `${name}.${snapshot}.qemu.raw`);
        qemuImgOk('convert', '-l', snapshot, '-O', 'raw', fixture.file, theirs);
        expect((await diskimg('convert', '-l', snapshot, '-O', 'raw', fixture.file, ours)).code).toBe(0);
        expect(firstDifference(ours, theirs)).toBeNull();
      }
    });
});

afterAll(() => rmSync(out, { recursive: true, force: true }));
