/**
 * Every check the reader makes past the fixed header, each with a bad input: real qemu-img images,
 * damaged in a copy. Where qemu-img has a message for the same damage, ours must be the same.
 */
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, afterAll } from 'vitest';
import { MemoryStorage } from '../../src/core/storage/storage.ts';
import { openImage } from '../../src/core/open.ts';
import { be32, be64, copy, firstL2, patch, qemuImg, qemuImgError, qemuIo, readBE64, scratchDir, readFailure } from '../support/qemu.ts';

let dir: string;
let plain: string; // v3, 64 KiB clusters, 128 KiB of data at 0
let v2: string;
let extl2: string;
let compressed: string;

beforeAll(() => {
  dir = scratchDir();
  plain = join(dir, 'plain.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', plain, '4M');
  qemuIo(plain, 'write -P 1 0 128k');
  v2 = join(dir, 'v2.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-o', 'compat=0.10', v2, '4M');
  qemuIo(v2, 'write -P 1 0 64k');
  extl2 = join(dir, 'extl2.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-o', 'extended_l2=on', extl2, '4M');
  qemuIo(extl2, 'write -P 1 0 64k');
  const raw = join(dir, 'text.raw');
  writeFileSync(raw, Buffer.from('hello qcow2 '.repeat(20000)));
  compressed = join(dir, 'compressed.qcow2');
  qemuImg('convert', '-q', '-c', '-f', 'raw', '-O', 'qcow2', raw, compressed);
});

/** Opens and reads the whole image, returning the error it fails with. */

/** qemu-img's own text for the damage: "qcow2: Image is corrupt: MSG; further …" or "Could not open 'f': MSG". */
function qemuMessage(file: string): string {
  const stderr = qemuImgError('convert', '-O', 'raw', file, join(dir, 'out.raw'));
  const corrupt = /qcow2: (Image is corrupt: .*?); further/.exec(stderr);
  if (corrupt) return corrupt[1];
  const open = /Could not open '[^']*': (.*)/.exec(stderr);
  if (open) return open[1];
  throw new Error(`unexpected qemu-img output: ${stderr}`);
}

describe('tables the reader walks', () => {
  it('refuses an L2 table offset that is not cluster-aligned, as qemu-img does', async () => {
    const file = copy(plain, join(dir, 'l1-unaligned.qcow2'));
    const { l1 } = firstL2(file);
    patch(file, l1, be64(readBE64(file, l1) + 512n));
    const error = await readFailure(file);
    expect(error.kind).toBe('corrupt');
    expect(error.message).toBe(qemuMessage(file));
    expect(error.context.offset).toBe(l1);
  });

  it('refuses a data cluster offset that is not cluster-aligned', async () => {
    const file = copy(plain, join(dir, 'l2-unaligned.qcow2'));
    const { l2 } = firstL2(file);
    patch(file, l2 + 8, be64(readBE64(file, l2 + 8) + 512n));
    const error = await readFailure(file);
    expect(error.message).toBe(qemuMessage(file));
    expect(error.message).toContain('L2 index: 0x1');
  });

  it('refuses a zero flag in a version 2 image', async () => {
    const file = copy(v2, join(dir, 'v2-zero.qcow2'));
    const { l2 } = firstL2(file);
    patch(file, l2, be64(readBE64(file, l2) | 1n));
    const error = await readFailure(file);
    expect(error.message).toBe(qemuMessage(file));
    expect(error.message).toContain('pre-v3');
  });

  it('refuses an extended L2 bitmap that says both allocated and zero', async () => {
    const file = copy(extl2, join(dir, 'extl2-both.qcow2'));
    const { l2 } = firstL2(file);
    patch(file, l2 + 8, be64(0x0000000100000001n));
    const error = await readFailure(file);
    expect(error.message).toBe(qemuMessage(file));
  });

  it('refuses allocation bits on an unallocated extended L2 entry', async () => {
    const file = copy(extl2, join(dir, 'extl2-unalloc.qcow2'));
    const { l2 } = firstL2(file);
    patch(file, l2 + 16 + 8, be64(1n));
    const error = await readFailure(file);
    expect(error.kind).toBe('corrupt');
    expect(error.message).toBe('Image is corrupt: Invalid cluster entry found  (L2 offset: 0x40000, L2 index: 0x1)');
  });

  it('says which compressed cluster does not decompress', async () => {
    const file = copy(compressed, join(dir, 'bad-deflate.qcow2'));
    const { l2 } = firstL2(file);
    const entry = readBE64(file, l2);
    const hostOffset = Number(entry & ((1n << 54n) - 1n));
    patch(file, hostOffset, new Array(64).fill(0xff));
    const error = await readFailure(file);
    expect(error.kind).toBe('corrupt');
    expect(error.message).toMatch(
      /^Compressed cluster at host offset 0x[0-9a-f]+ \(guest offset 0x0\) does not decompress \(zlib\) to 65536 bytes$/,
    );
    expect(error.context.offset).toBe(hostOffset);
    qemuImgError('convert', '-O', 'raw', file, join(dir, 'out.raw')); // qemu-img fails on it too
  });
});

describe('header extensions', () => {
  // qemu-img writes the feature table extension right after the 112-byte header.
  const FEATURE_TABLE_AT = 112;

  it('refuses an extension longer than the space before the end of the cluster', async () => {
    const file = copy(plain, join(dir, 'ext-too-large.qcow2'));
    patch(file, FEATURE_TABLE_AT + 4, be32(0x10000));
    const error = await readFailure(file);
    expect(error.message).toBe('Header extension too large');
    expect(error.message).toBe(qemuMessage(file));
  });

  it('refuses a backing format name of 16 bytes or more', async () => {
    const base = join(dir, 'bf-base.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', base, '1M');
    const file = join(dir, 'bf-long.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', file);
    patch(file, FEATURE_TABLE_AT + 4, be32(16));
    const error = await readFailure(file);
    expect(error.message).toBe('ERROR: ext_backing_format: len=16 too large (>=16)');
    expect(error.message).toBe(qemuMessage(file));
  });

  it('names unknown incompatible features from the feature table', async () => {
    const file = copy(plain, join(dir, 'named-feature.qcow2'));
    // Rename the first feature-table entry (incompatible bit 0) to bit 7, and set bit 7.
    patch(file, FEATURE_TABLE_AT + 8 + 1, [7]);
    patch(file, FEATURE_TABLE_AT + 8 + 2, [...Buffer.from('time travel\0')]);
    patch(file, 72 + 7, [0x80]);
    const error = await readFailure(file);
    expect(error.kind).toBe('unsupported');
    expect(error.message).toBe('Unsupported qcow2 feature(s): time travel');
    expect(error.message).toBe(qemuMessage(file));
  });

  it('refuses a crypto header extension in an image that is not LUKS-encrypted', async () => {
    const file = copy(plain, join(dir, 'crypto-ext.qcow2'));
    patch(file, FEATURE_TABLE_AT, be32(0x0537be77));
    const error = await readFailure(file);
    expect(error.message).toBe('CRYPTO header extension only expected with LUKS encryption method');
    expect(error.message).toBe(qemuMessage(file));
  });
});

describe('backing chains', () => {
  it('refuses a chain that loops back on itself', async () => {
    const a = join(dir, 'loop-a.qcow2');
    const b = join(dir, 'loop-b.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', b, '1M');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', b, '-F', 'qcow2', a);
    qemuImg('rebase', '-u', '-b', a, '-F', 'qcow2', b);
    const error = await readFailure(a);
    expect(error.kind).toBe('corrupt');
    expect(error.message).toContain('Backing chain loops');
  });

  it('says which backing file is missing, as qemu-img does', async () => {
    const file = join(dir, 'orphan.qcow2');
    const base = join(dir, 'gone.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', base, '1M');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', file);
    qemuImg('rebase', '-u', '-b', join(dir, 'nowhere.qcow2'), '-F', 'qcow2', file);
    const error = await readFailure(file);
    expect(error.kind).toBe('not-found');
    expect(error.message).toBe(qemuMessage(file));
  });

  it('fails clearly without a way to find backing files', async () => {
    const base = join(dir, 'nores-base.qcow2');
    const file = join(dir, 'nores.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', base, '1M');
    qemuImg('create', '-q', '-f', 'qcow2', '-b', 'nores-base.qcow2', '-F', 'qcow2', file);
    const bytes = new Uint8Array(await import('node:fs').then((fs) => fs.readFileSync(file)));
    await expect(openImage(new MemoryStorage(bytes, 'nores.qcow2'))).rejects.toThrow(
      "Could not open backing file: Could not open 'nores-base.qcow2': No such file or directory",
    );
  });
});

describe('snapshots', () => {
  it('reports a snapshot that does not exist as qemu-img does', async () => {
    const file = copy(plain, join(dir, 'snaps.qcow2'));
    qemuImg('snapshot', '-c', 'one', file);
    const error = await readFailure(file, { snapshot: 'two' });
    expect(error.kind).toBe('not-found');
    const stderr = qemuImgError('convert', '-l', 'two', '-O', 'raw', file, join(dir, 'out.raw'));
    expect(stderr).toContain(error.message);
  });

  it('refuses more than 1 KiB of extra data in a snapshot entry', async () => {
    const file = copy(plain, join(dir, 'snap-extra.qcow2'));
    qemuImg('snapshot', '-c', 'one', file);
    const table = Number(readBE64(file, 64));
    patch(file, table + 36, be32(2048));
    const error = await readFailure(file);
    expect(error.kind).toBe('limit');
    expect(error.message).toBe('Too much extra metadata in snapshot table entry 0');
    expect(error.message).toBe(qemuMessage(file));
  });
});

describe('what probing and opening say', () => {
  it('refuses to open an encrypted image without its passphrase, saying so', async () => {
    const file = join(dir, 'aes.qcow2');
    qemuImg(
      'create',
      '-q',
      '-f',
      'qcow2',
      '--object',
      'secret,id=s0,data=abc',
      '-o',
      'encrypt.format=aes,encrypt.key-secret=s0',
      file,
      '1M',
    );
    const error = await readFailure(file);
    expect(error.kind).toBe('needs-passphrase');
    expect(error.message).toContain('The image is encrypted (aes): its passphrase is needed to read it');
  });

  it('reads an ISO 9660 image as raw and says what it holds', async () => {
    const { probeFormat } = await import('../../src/core/probe.ts');
    const bytes = new Uint8Array(32768 + 2048 * 3);
    bytes.set([1, ...Buffer.from('CD001')], 32768);
    const probed = await probeFormat(new MemoryStorage(bytes));
    expect(probed).toEqual({ format: 'raw', score: 1, content: 'iso9660' });
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));
