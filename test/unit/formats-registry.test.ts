/** The one table of formats: what probing, opening by name, the CLI's help and the installed app read from it. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DRIVERS } from '../../src/core/formats/index.ts';
import { checkFormatName, probeFormat } from '../../src/core/probe.ts';
import { MemoryStorage } from '../../src/core/storage/storage.ts';
import { main } from '../../src/cli/main.ts';

describe('the format table', () => {
  it('names each format once', () => {
    const names = DRIVERS.map((d) => d.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('the installed app opens every file ending a format has', () => {
    const manifest = JSON.parse(readFileSync(new URL('../../public/manifest.webmanifest', import.meta.url), 'utf8'));
    const accepted = new Set(manifest.file_handlers.flatMap((h: { accept: Record<string, string[]> }) => Object.values(h.accept).flat()));
    for (const driver of DRIVERS)
      for (const ending of driver.extensions) expect(accepted, `${driver.name}: .${ending}`).toContain(`.${ending}`);
  });

  it("the CLI's help lists every format read", async () => {
    let out = '';
    await main(['--help'], { stdout: (s) => (out += s), stderr: () => {} });
    for (const driver of DRIVERS) expect(out).toMatch(new RegExp(`^  ${driver.name} +${driver.title.replace(/[()]/g, '\\$&')}$`, 'm'));
  });

  it('refuses an unknown -f with qemu-img words, and takes every format it reads', () => {
    expect(() => checkFormatName('frob')).toThrow("Unknown driver 'frob'");
    for (const driver of DRIVERS) expect(() => checkFormatName(driver.name)).not.toThrow();
  });

  it("a qcow2 magic with version 0 is raw, as qemu's probe says (qcow2 needs a version of 2 or more)", async () => {
    const bytes = new Uint8Array(4096);
    bytes.set([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 0]);
    expect((await probeFormat(new MemoryStorage(bytes))).format).toBe('raw');
    bytes[7] = 3;
    expect((await probeFormat(new MemoryStorage(bytes))).format).toBe('qcow2');
  });
});
