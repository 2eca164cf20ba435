/**
 * Every mutant the fuzzer ever failed on (test/fuzz/regressions/*.gz) is replayed through the same
 * targets: each must now be read or refused with a DiskImgError. And the harness itself must tell
 * a refusal from a finding, or a campaign proves nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { mutant, prng } from '../fuzz/mutate.ts';
import { addTarget, runTargets } from '../fuzz/targets.ts';

const dir = join(import.meta.dirname, '..', 'fuzz', 'regressions');
const kept = readdirSync(dir).filter((name) => name.endsWith('.gz'));

describe('fuzz regressions', () => {
  for (const name of kept) {
    it(`${name} is read or refused cleanly`, { timeout: 30_000 }, async () => {
      const { findings } = await runTargets(new Uint8Array(gunzipSync(readFileSync(join(dir, name)))));
      expect(findings).toEqual([]);
    });
  }
});

describe('the fuzz harness', () => {
  it('counts a DiskImgError as a refusal and anything else as a finding', async () => {
    addTarget('test-refuses', async () => {
      throw new DiskImgError('corrupt', 'a clear refusal');
    });
    addTarget('test-breaks', async (bytes) => (bytes as unknown as { nope: { deeper: number } }).nope.deeper);
    const { outcomes, findings } = await runTargets(new Uint8Array(512), ['test-refuses', 'test-breaks']);
    expect(outcomes).toEqual([{ target: 'test-refuses', result: 'refused', kind: 'corrupt' }]);
    expect(findings.map((f) => f.target)).toEqual(['test-breaks']);
    expect(findings[0].error).toMatch(/^TypeError: /);
  });

  it('makes the same mutant from the same seed, and a different one from another', () => {
    const seed = new Uint8Array(8192).map((_, i) => i & 0xff);
    const a = mutant(seed, prng(42));
    const b = mutant(seed, prng(42));
    const c = mutant(seed, prng(43));
    expect(a).toEqual(b);
    expect(Buffer.from(a.bytes).equals(Buffer.from(c.bytes)) && a.applied.join() === c.applied.join()).toBe(false);
  });
});
