/**
 * The probes of luks, parallels, bochs, cloop and dmg never take another format's file: a qcow2,
 * a raw disk or an ISO keeps its format even when named *.dmg or starting like a shell script.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeFormat } from '../../src/core/probe.ts';
import { NodeFileStorage } from '../../src/node/file-storage.ts';
import { bochsImage } from '../support/bochs-image.ts';
import { qemuImg, scratchDir } from '../support/qemu.ts';

let dir: string;
beforeAll(() => {
  dir = scratchDir();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function probe(file: string) {
  const storage = await NodeFileStorage.open(file);
  try {
    return await probeFormat(storage);
  } finally {
    await storage.close();
  }
}

describe('probing beside the misc formats', () => {
  it('a qcow2 named .dmg is qcow2', async () => {
    const file = join(dir, 'disk.dmg');
    qemuImg('create', '-q', '-f', 'qcow2', file, '1M');
    expect((await probe(file)).format).toBe('qcow2');
  });

  it('an ISO named .dmg is raw (iso9660)', async () => {
    const tree = join(dir, 'tree');
    mkdirSync(tree);
    writeFileSync(join(tree, 'a.txt'), 'hello');
    const file = join(dir, 'disc.dmg');
    execFileSync('genisoimage', ['-quiet', '-o', file, tree]);
    expect(await probe(file)).toMatchObject({ format: 'raw', content: 'iso9660' });
  });

  it('a raw disk named .dmg is raw', async () => {
    const file = join(dir, 'blank.dmg');
    writeFileSync(file, Buffer.alloc(1 << 20));
    expect((await probe(file)).format).toBe('raw');
  });

  it('a shell script that is not a cloop image is raw', async () => {
    const file = join(dir, 'script.img');
    writeFileSync(file, '#!/bin/sh\n#V2.0 Format\necho hello\n'.padEnd(4096, ' '));
    expect((await probe(file)).format).toBe('raw');
  });

  it('a short file with a Bochs or Parallels magic is raw, as qemu probes it', async () => {
    const bochs = join(dir, 'short.bochs');
    bochsImage(bochs, { version: 2, diskBytes: 65536, extentBytes: 4096, sectors: new Map() });
    truncateSync(bochs, 300);
    expect((await probe(bochs)).format).toBe('raw');
    const parallels = join(dir, 'short.hdd');
    writeFileSync(parallels, Buffer.from('WithoutFreeSpace\x02\0\0\0'));
    expect((await probe(parallels)).format).toBe('raw');
  });
});
