/**
 * qemu-img amend into a new file (the page's way): the input untouched, the output byte for byte
 * what `cp` then `qemu-img amend -o …` on the copy gives, its snapshots kept; a LUKS-encrypted
 * qcow2 gains a passphrase or loses one, and qemu-img opens the copy as it should.
 */
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portableCrypto } from '../../src/core/crypto/provider.ts';
import { copyWithAmend, type AmendCopyRequest } from '../../src/core/pipeline/amend-copy.ts';
import { MemorySink } from '../../src/core/sink.ts';
import { NodeFileStorage } from '../../src/node/file-storage.ts';
import { pattern } from '../interop/fixtures.ts';
import { qemuImg, qemuIo, scratchDir } from '../support/qemu.ts';

const MiB = 1 << 20;
let dir: string;
let image: string;
let encrypted: string;
const SECRETS = ['--object', 'secret,id=s0,data=old', '--object', 'secret,id=s1,data=new'];
const opts = (path: string, secret: string) => `driver=qcow2,file.filename=${path},encrypt.key-secret=${secret}`;

beforeAll(() => {
  dir = scratchDir();
  const raw = join(dir, 'source.raw');
  writeFileSync(raw, Buffer.concat([pattern('text', 2 * MiB, 1), pattern('random', MiB, 2), Buffer.alloc(3 * MiB)]));
  image = join(dir, 'disk.qcow2');
  qemuImg('convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, image);
  qemuImg('snapshot', '-c', 'first', image);
  qemuIo(image, 'write -P 0x11 1M 1M');
  encrypted = join(dir, 'luks.qcow2');
  qemuImg(
    'convert',
    '-q',
    '--object',
    'secret,id=s0,data=old',
    '-f',
    'raw',
    '-O',
    'qcow2',
    '-o',
    'encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10',
    raw,
    encrypted,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function ours(from: string, request: AmendCopyRequest, name: string): Promise<string> {
  const sink = new MemorySink();
  await copyWithAmend(await NodeFileStorage.open(from), request, sink, portableCrypto());
  const out = join(dir, name);
  writeFileSync(out, sink.bytes);
  return out;
}

function theirs(from: string, options: string, name: string): string {
  const out = join(dir, name);
  copyFileSync(from, out);
  qemuImg('amend', '-o', options, out);
  return out;
}

describe('copyWithAmend', () => {
  const cases: Array<[string, AmendCopyRequest['amend'], string]> = [
    ['down to compat 0.10, the snapshot kept', { version: 2 }, 'compat=0.10'],
    ['lazy refcounts on', { lazyRefcounts: true }, 'lazy_refcounts=on'],
    ['4-bit refcounts', { refcountBits: 4 }, 'refcount_bits=4'],
  ];
  for (const [name, amend, options] of cases) {
    it(`${name}: byte for byte cp + qemu-img amend, the input untouched`, async () => {
      const before = readFileSync(image);
      const slug = name.replace(/\W+/g, '-');
      const out = await ours(image, { amend }, `ours-${slug}.qcow2`);
      expect(Buffer.compare(readFileSync(image), before)).toBe(0);
      expect(Buffer.compare(readFileSync(out), readFileSync(theirs(image, options, `theirs-${slug}.qcow2`)))).toBe(0);
      expect(qemuImg('check', out)).toContain('No errors were found');
      expect(JSON.parse(qemuImg('info', '--output=json', out)).snapshots.map((s: { name: string }) => s.name)).toEqual(['first']);
    });
  }

  const opensWith = (path: string, secret: string) => {
    try {
      qemuImg('compare', ...SECRETS, '--image-opts', opts(path, secret), opts(encrypted, 's0'));
      return true;
    } catch {
      return false;
    }
  };

  it('adds a passphrase to a LUKS-encrypted qcow2: the copy opens with either', async () => {
    const out = await ours(encrypted, { amend: {}, keySlots: { add: 'new' }, passphrase: 'old' }, 'added.qcow2');
    expect(opensWith(out, 's1')).toBe(true);
    expect(opensWith(out, 's0')).toBe(true);
    expect(opensWith(encrypted, 's1')).toBe(false);
  });

  it('removes a passphrase: the copy no longer opens with it, and still with the other', async () => {
    const two = await ours(encrypted, { amend: {}, keySlots: { add: 'new' }, passphrase: 'old' }, 'two.qcow2');
    const out = await ours(two, { amend: {}, keySlots: { remove: 'old' }, passphrase: 'new' }, 'removed.qcow2');
    expect(opensWith(out, 's0')).toBe(false);
    expect(opensWith(out, 's1')).toBe(true);
  });

  it('refuses to remove the last passphrase, a key slot change without a passphrase, and a wrong one', async () => {
    await expect(ours(encrypted, { amend: {}, keySlots: { remove: 'old' }, passphrase: 'old' }, 'x.qcow2')).rejects.toThrow(
      /erase all the data/,
    );
    await expect(ours(encrypted, { amend: {}, keySlots: { add: 'new' } }, 'y.qcow2')).rejects.toThrow('needs a passphrase');
    await expect(ours(encrypted, { amend: {}, keySlots: { add: 'new' }, passphrase: 'wrong' }, 'z.qcow2')).rejects.toThrow();
    await expect(ours(image, { amend: {}, keySlots: { add: 'new' }, passphrase: 'old' }, 'w.qcow2')).rejects.toThrow('LUKS-encrypted');
  });

  it('refuses another format', async () => {
    const raw = join(dir, 'plain.raw');
    writeFileSync(raw, Buffer.alloc(MiB));
    await expect(ours(raw, { amend: { version: 2 } }, 'r.qcow2')).rejects.toThrow('qemu-img amend changes qcow2 images: this image is raw');
  });
});
