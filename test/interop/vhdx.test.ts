/**
 * Reading every kind of VHDX qemu-img writes: our raw conversion must equal qemu-img's byte for
 * byte, and info, map and check must print what qemu-img prints. The image with a log to replay,
 * which qemu-img opens only read-write, is compared with a copy `qemu-img check -r all` replayed.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vhdxFixtures, type VhdxFixture } from './vhdx-fixtures.ts';
import { diskimg, firstDifference, qemuImg, qemuImgOk } from './support.ts';

let out: string;
beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'diskimg-vhdx-read-'));
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe.each(vhdxFixtures().map((f) => [f.name, f] as [string, VhdxFixture]))('%s', (name, fixture) => {
  const reference = fixture.replayed ?? fixture.file;

  it('converts to raw exactly as qemu-img does', async () => {
    const ours = join(out, `${name}.ours.raw`);
    const theirs = join(out, `${name}.qemu.raw`);
    qemuImgOk('convert', '-O', 'raw', reference, theirs);
    const run = await diskimg('convert', '-O', 'raw', fixture.file, ours);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    if (fixture.sparse) {
      expect(qemuImg('compare', '-f', 'raw', '-F', 'raw', ours, theirs).stdout).toBe('Images are identical.\n');
      expect(statSync(ours).size).toBe(statSync(theirs).size);
    } else {
      expect(firstDifference(ours, theirs)).toBeNull();
    }
    rmSync(ours);
    rmSync(theirs);
  });

  if (!fixture.sparse && !fixture.chain)
    it('converts to qcow2 exactly as qemu-img does', async () => {
      const ours = join(out, `${name}.ours.qcow2`);
      const theirs = join(out, `${name}.qemu.qcow2`);
      qemuImgOk('convert', '-O', 'qcow2', reference, theirs);
      expect((await diskimg('convert', '-O', 'qcow2', fixture.file, ours)).code).toBe(0);
      expect(firstDifference(ours, theirs)).toBeNull();
    });

  it('prints info, map and check as qemu-img does', async () => {
    const commands: string[][] = [
      ['info', '--output=json'],
      ['info'],
      ['map', '--output=json'],
      ['map'],
      ['check', '--output=json'],
      ['check'],
    ];
    if (fixture.chain) commands.push(['info', '--backing-chain'], ['info', '--output=json', '--backing-chain']);
    for (const command of commands) {
      const expected = qemuImg(...command, reference);
      const run = await diskimg(...command, fixture.file);
      // The replayed copy has another name; its size on disk differs after qemu's replay writes.
      const normalise = (text: string, file: string) =>
        text
          .split(file)
          .join('IMAGE')
          .replace(/("actual-size": |disk size: ).*/g, '$1…');
      expect(normalise(run.stdout, fixture.file), command.join(' ')).toBe(normalise(expected.stdout, reference));
      expect(run.code, command.join(' ')).toBe(expected.code);
    }
  });
});

describe('a VHDX whose log must be replayed', () => {
  const dirty = () => vhdxFixtures().find((f) => f.replayed)!;

  it('is refused by qemu-img read-only, and read by us as qemu-img reads it once replayed', async () => {
    expect(qemuImg('info', dirty().file).stderr).toContain('contains a log that needs to be replayed');
    const run = await diskimg('info', '--output=json', dirty().file);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ format: 'vhdx', 'virtual-size': 8 * 1024 * 1024 });
  });
});
