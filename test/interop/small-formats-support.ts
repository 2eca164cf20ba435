/**
 * The read checks every VDI, QED and qcow fixture goes through: raw conversion byte-identical to
 * qemu-img's, info (JSON and human, and the backing chain) and map equal, check equal where qemu-img
 * checks the format.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskimg, firstDifference, qemuImg, qemuImgOk } from './support.ts';
import type { SmallFixture } from './small-formats-fixtures.ts';

/** The image as qemu names it: with --image-opts and the secret for an encrypted one. */
function spec(fixture: SmallFixture): string[] {
  if (!fixture.secret) return [fixture.file];
  return ['--object', fixture.secret, '--image-opts', `driver=${fixture.format},file.filename=${fixture.file},encrypt.key-secret=sec0`];
}

export function describeReads(fixtures: SmallFixture[], checks: boolean): void {
  let out: string;
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'diskimg-small-'));
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  describe.each(fixtures.map((f) => [f.name, f] as [string, SmallFixture]))('%s', (name, fixture) => {
    it('converts to raw exactly as qemu-img does', async () => {
      const ours = join(out, `${name}.ours.raw`);
      const theirs = join(out, `${name}.qemu.raw`);
      qemuImgOk('convert', ...spec(fixture), '-O', 'raw', theirs);
      const run = await diskimg('convert', ...spec(fixture), '-O', 'raw', ours);
      expect(run).toMatchObject({ code: 0, stderr: '' });
      expect(firstDifference(ours, theirs)).toBeNull();
    });

    it('prints info as qemu-img does (JSON and human)', async () => {
      for (const flags of [['--output=json'], [], ...(fixture.chain ? [['--output=json', '--backing-chain'], ['--backing-chain']] : [])]) {
        const expected = qemuImg('info', ...flags, fixture.file);
        const run = await diskimg('info', ...flags, fixture.file);
        expect(run.stdout).toBe(expected.stdout);
        expect(run.code).toBe(expected.code);
      }
    });

    if (fixture.mapDiffers === undefined)
      it('prints map as qemu-img does', async () => {
        for (const flags of [['--output=json'], []]) {
          const expected = qemuImg('map', ...flags, ...spec(fixture));
          const run = await diskimg('map', ...flags, ...spec(fixture));
          expect(run.stdout).toBe(expected.stdout);
          expect(run.code).toBe(expected.code);
        }
      });

    // qemu-img check wants an encrypted image's key (exit 1 without it); ours reads metadata only.
    if (!fixture.secret)
      it(checks ? 'checks as qemu-img does' : 'says it cannot check the format, as qemu-img does', async () => {
        for (const flags of [['--output=json'], []]) {
          const expected = qemuImg('check', ...flags, fixture.file);
          const run = await diskimg('check', ...flags, fixture.file);
          expect(run.stdout).toBe(expected.stdout);
          expect(run.code).toBe(expected.code);
          expect(run.stderr.replace(/^diskimg: /gm, '')).toBe(expected.stderr.replace(/^qemu-img: /gm, ''));
        }
      });
  });
}
