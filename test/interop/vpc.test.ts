/**
 * Reading the VHDs qemu-img makes: our raw conversion must equal qemu-img's byte for byte, and
 * info and map must print what qemu-img prints. A fixed VHD is compared with `qemu-img -f vpc`
 * (qemu's probe calls it raw; ours reads its footer), and read with `-f raw` it must still be
 * qemu-img's raw file, footer included.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskimg, firstDifference, qemuImg, qemuImgOk } from './support.ts';
import { vpcFixtures, type VpcFixture } from './vpc-fixtures.ts';

let out: string;
beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'diskimg-vpc-'));
});

describe.each(vpcFixtures().map((f) => [f.name, f] as [string, VpcFixture]))('%s', (name, fixture) => {
  it('converts to raw exactly as qemu-img does', async () => {
    const ours = join(out, `${name}.ours.raw`);
    const theirs = join(out, `${name}.qemu.raw`);
    qemuImgOk('convert', '-f', fixture.top ?? 'vpc', '-O', 'raw', fixture.file, theirs);
    const run = await diskimg('convert', '-O', 'raw', fixture.file, ours);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    if (fixture.sparse) {
      // A 1 TiB file is compared through its holes, and ours must have kept them.
      expect(qemuImg('compare', '-f', 'raw', '-F', 'raw', ours, theirs).stdout).toBe('Images are identical.\n');
      expect(statSync(ours).size).toBe(statSync(theirs).size);
      expect(statSync(ours).blocks * 512).toBeLessThan(1024 * 1024);
    } else {
      expect(firstDifference(ours, theirs)).toBeNull();
    }
  });

  it('prints info as qemu-img -f vpc does (JSON and human), probed', async () => {
    for (const flags of [['--output=json'], [], ...(fixture.top ? [['--output=json', '--backing-chain'], ['--backing-chain']] : [])]) {
      const expected = qemuImg('info', '-f', fixture.top ?? 'vpc', ...flags, fixture.file);
      const run = await diskimg('info', ...flags, fixture.file);
      expect(run.code).toBe(expected.code);
      expect(run.stdout).toBe(expected.stdout);
    }
  });

  if (fixture.mapDiffers === undefined)
    it('prints map as qemu-img does', async () => {
      for (const flags of [['--output=json'], []]) {
        const expected = qemuImg('map', '-f', fixture.top ?? 'vpc', ...flags, fixture.file);
        const run = await diskimg('map', ...flags, fixture.file);
        expect(run.stdout).toBe(expected.stdout);
        expect(run.code).toBe(expected.code);
      }
    });

  if (!fixture.top)
    it('cannot be checked, as qemu-img says', async () => {
      const expected = qemuImg('check', '-f', 'vpc', fixture.file);
      const run = await diskimg('check', fixture.file);
      expect(run.code).toBe(expected.code);
      expect(run.stderr.replace(/^diskimg/, 'qemu-img')).toBe(expected.stderr);
    });

  if (fixture.fixed)
    it('is read as qemu-img reads it with -f raw: footer included', async () => {
      const ours = join(out, `${name}.ours.asraw`);
      const theirs = join(out, `${name}.qemu.asraw`);
      qemuImgOk('convert', '-O', 'raw', fixture.file, theirs);
      expect((await diskimg('convert', '-f', 'raw', '-O', 'raw', fixture.file, ours)).code).toBe(0);
      expect(firstDifference(ours, theirs)).toBeNull();
      expect((await diskimg('info', '-f', 'raw', '--output=json', fixture.file)).stdout).toBe(
        qemuImgOk('info', '--output=json', fixture.file),
      );
    });
});

afterAll(() => rmSync(out, { recursive: true, force: true }));
