/**
 * Damaged DMG images: a good one (written as hdiutil lays it out) with its trailer, tables or
 * chunks spoiled in a copy. Each refusal is a DiskImgError of the right kind naming the field;
 * where qemu-img has its own words (the trailer, chunk bounds), they are the same.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { dmgImage } from '../support/dmg-image.ts';
import { be32, be64, copy, open, patch, qemuImgError, readAll, scratchDir, readFailure } from '../support/qemu.ts';

let dir: string;
let good: string;
let rsrc: string;
let koly: number;
const text = (sectors: number) => Buffer.from('bad dmg input '.repeat(sectors * 40).slice(0, sectors * 512));

beforeAll(() => {
  dir = scratchDir();
  good = join(dir, 'good.dmg');
  dmgImage(good, {
    partitions: [
      [
        { type: 'zlib', sectors: 16, data: text(16) },
        { type: 'raw', sectors: 2, data: text(2) },
        { type: 'zero', sectors: 8 },
        { type: 'bzip2', sectors: 8, data: text(8) },
      ],
    ],
  });
  koly = readFileSync(good).length - 512;
  rsrc = join(dir, 'rsrc.dmg');
  dmgImage(rsrc, { resourceFork: true, partitions: [[{ type: 'zlib', sectors: 16, data: text(16) }]] });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const damaged = (from: string, patches: Array<[number, number[]]>) => {
  const file = copy(from, join(dir, `bad${n++}.dmg`));
  for (const [at, bytes] of patches) patch(file, at, bytes);
  return file;
};

/** The first chunk entry of the mish block, found in the file through its base64 (XML plist). */
function firstChunkEntry(file: string): { text: string; at: number } {
  const bytes = readFileSync(file, 'latin1');
  const at = bytes.indexOf('<data>') + 6;
  return { text: bytes, at };
}

/** Rewrites the (only) mish block of the XML plist with `edit` applied to its bytes. */
function editMish(edit: (mish: Buffer) => void): string {
  const { text: whole, at } = firstChunkEntry(good);
  const end = whole.indexOf('</data>', at);
  const mish = Buffer.from(whole.slice(at, end).replace(/\s/g, ''), 'base64');
  edit(mish);
  const encoded = mish.toString('base64');
  // Same length: base64 of a same-size block, padded with whitespace (skipped by the decoder).
  const replaced = encoded + ' '.repeat(end - at - encoded.length);
  const file = join(dir, `mish${n++}.dmg`);
  writeFileSync(file, Buffer.from(whole.slice(0, at) + replaced + whole.slice(end), 'latin1'));
  return file;
}

describe('damaged DMG images', () => {
  it('opens the good ones', async () => {
    for (const file of [good, rsrc]) {
      const image = await open(file);
      expect(image.layers[0].format).toBe('dmg');
      await readAll(image);
      await image.close();
    }
  });

  it('no koly trailer', async () => {
    const error = await readFailure(damaged(good, [[koly, [0x4b]]]), { format: 'dmg' });
    expect(error.kind).toBe('invalid-format');
    expect(error.context.field).toBe('koly');
    expect(qemuImgError('info', '-f', 'dmg', damaged(good, [[koly, [0x4b]]]))).toContain(error.message);
  });

  it('a file named .dmg without a trailer is raw, not dmg', async () => {
    const image = await open(damaged(good, [[koly, [0x4b]]]));
    expect(image.layers[0].format).toBe('raw');
    await image.close();
  });

  it('empty, and a lone trailer magic', async () => {
    const empty = join(dir, 'empty.dmg');
    writeFileSync(empty, Buffer.alloc(0));
    const error = await readFailure(empty, { format: 'dmg' });
    expect(error.message).toBe('dmg file must be at least 512 bytes long');
    expect(qemuImgError('info', '-f', 'dmg', empty)).toContain(error.message);
    // Four bytes count as one whole sector (bdrv_getlength rounds up): a trailer of zeros.
    const tiny = join(dir, 'tiny.dmg');
    writeFileSync(tiny, Buffer.from('koly'));
    expect((await readFailure(tiny, { format: 'dmg' })).kind).toBe('invalid-format');
  });

  const trailer: Array<[string, number, number[], string, DiskImgError['kind']]> = [
    ['data fork past the trailer', 0x18, be64(1n << 40n), 'DataForkOffset', 'invalid-format'],
    ['resource fork past the trailer', 0x28, be64(1n << 40n), 'RsrcForkOffset', 'invalid-format'],
    ['plist longer than the file', 0xe0, be64(1n << 40n), 'XMLOffset', 'invalid-format'],
    ['negative sector count', 0x1ec, be64(1n << 63n), 'SectorCount', 'invalid-format'],
    ['absurd sector count', 0x1ec, be64(1n << 60n), 'SectorCount', 'limit'],
    ['neither resource fork nor plist', 0xe0, be64(0n), 'RsrcForkLength', 'invalid-format'],
  ];
  for (const [what, offset, bytes, field, kind] of trailer) {
    it(what, async () => {
      const error = await readFailure(damaged(good, [[koly + offset, bytes]]), { format: 'dmg' });
      expect(error.kind).toBe(kind);
      expect(error.context.field).toBe(field);
    });
  }

  it('resource data offset past the fork', async () => {
    const bytes = readFileSync(rsrc);
    const at = Number(bytes.readBigUInt64BE(bytes.length - 512 + 0x28));
    const error = await readFailure(damaged(rsrc, [[at, be32(0x7fffffff)]]), { format: 'dmg' });
    expect(error.context.field).toBe('resource fork');
  });

  it('a resource larger than the resource data', async () => {
    const bytes = readFileSync(rsrc);
    const at = Number(bytes.readBigUInt64BE(bytes.length - 512 + 0x28));
    const error = await readFailure(damaged(rsrc, [[at + 256, be32(0x7fffffff)]]), { format: 'dmg' });
    expect(error.context.field).toBe('resource fork');
  });

  it('a chunk of more sectors than QEMU allows', async () => {
    const file = editMish((m) => m.writeBigUInt64BE(200000n, 204 + 0x10));
    const error = await readFailure(file, { format: 'dmg' });
    expect(error.kind).toBe('invalid-format');
    expect(error.message).toBe('sector count 200000 for chunk 0 is larger than max (131072)');
    expect(qemuImgError('info', file)).toContain(error.message);
  });

  it('a chunk longer than QEMU allows', async () => {
    const file = editMish((m) => m.writeBigUInt64BE(1n << 30n, 204 + 0x20));
    const error = await readFailure(file, { format: 'dmg' });
    expect(error.message).toBe('length 1073741824 for chunk 0 is larger than max (67108864)');
    expect(qemuImgError('info', file)).toContain(error.message);
  });

  it('a zlib chunk that does not inflate', async () => {
    const file = editMish((m) => m.writeBigUInt64BE(3n, 204 + 0x20));
    const error = await readFailure(file, { format: 'dmg' });
    expect(error.kind).toBe('corrupt');
    expect(error.context.field).toBe('mish chunk');
  });

  it('a bzip2 chunk that does not decode', async () => {
    const file = editMish((m) => m.writeBigUInt64BE(0n, 204 + 3 * 40 + 0x18));
    const error = await readFailure(file, { format: 'dmg' });
    expect(error.kind).toBe('corrupt');
    expect(error.message).toContain('bzip2');
  });

  it('sectors no chunk holds fail to read', async () => {
    const file = editMish((m) => m.writeUInt32BE(0x12345678, 204 + 2 * 40));
    const error = await readFailure(file, { format: 'dmg' });
    expect(error.kind).toBe('corrupt');
    expect(error.context.field).toBe('mish chunk');
  });

  it('a <data> element without its end', async () => {
    const whole = readFileSync(good, 'latin1');
    const last = whole.lastIndexOf('</data>');
    const file = join(dir, 'unclosed.dmg');
    writeFileSync(file, Buffer.from(whole.slice(0, last) + '<xdata>' + whole.slice(last + 7), 'latin1'));
    const error = await readFailure(file, { format: 'dmg' });
    expect(error.context.field).toBe('XMLOffset');
  });
});
