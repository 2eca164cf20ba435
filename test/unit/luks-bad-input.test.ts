/**
 * Damaged standalone LUKS volumes: a real qemu-img volume with one field spoiled in a copy. Each
 * refusal is a DiskImgError of the right kind that names the field.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { be32, copy, open, patch, scratchDir } from '../support/qemu.ts';

let dir: string;
let good: string;
const PASS = 'pw';

beforeAll(() => {
  dir = scratchDir();
  good = join(dir, 'good.luks');
  execFileSync('qemu-img', [
    'create',
    '-q',
    '-f',
    'luks',
    '--object',
    `secret,id=s0,data=${PASS}`,
    '-o',
    'key-secret=s0,iter-time=10,cipher-alg=aes-128',
    good,
    '64k',
  ]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function refusal(file: string, options: Parameters<typeof open>[1] = { format: 'luks', passphrase: PASS }): Promise<DiskImgError> {
  try {
    const image = await open(file, options);
    await image.close();
  } catch (error) {
    expect(error).toBeInstanceOf(DiskImgError);
    return error as DiskImgError;
  }
  throw new Error('opened');
}

let n = 0;
const damaged = (patches: Array<[number, number[]]>) => {
  const file = copy(good, join(dir, `bad${n++}.luks`));
  for (const [at, bytes] of patches) patch(file, at, bytes);
  return file;
};

describe('damaged LUKS volumes', () => {
  it('opens the good one', async () => {
    const image = await open(good, { passphrase: PASS });
    expect(image.layers[0].format).toBe('luks');
    expect(image.virtualSize).toBe(65536);
    await image.close();
  });

  it('bad magic, opened as luks', async () => {
    const error = await refusal(damaged([[0, [0x4c, 0x55, 0x4b, 0x53, 0, 0]]]));
    expect(error.kind).toBe('invalid-format');
    expect(error.message).toBe('Volume is not in LUKS format');
    expect(error.context.field).toBe('LUKS header');
  });

  it('bad magic is not probed as luks (it is raw then)', async () => {
    const image = await open(damaged([[0, [0x4c, 0x55, 0x4b, 0x53, 0, 0]]]));
    expect(image.layers[0].format).toBe('raw');
    await image.close();
  });

  it('version 2 is not probed as luks', async () => {
    const image = await open(damaged([[6, [0, 2]]]));
    expect(image.layers[0].format).toBe('raw');
    await image.close();
    const error = await refusal(damaged([[6, [0, 2]]]));
    expect(error.kind).toBe('unsupported');
  });

  it('payload offset past the end of the file', async () => {
    const error = await refusal(damaged([[104, be32(0x100000)]]));
    expect(error.kind).toBe('corrupt');
    expect(error.message).toBe('Could not refresh total sector count: Input/output error');
    expect(error.context.field).toBe('payload_offset');
  });

  it('truncated before the payload', async () => {
    const file = copy(good, join(dir, 'short.luks'));
    truncateSync(file, 4096);
    const error = await refusal(file);
    expect(error.kind).toBe('corrupt');
    expect(error.context.field).toBe('payload_offset');
  });

  it('absurd PBKDF2 iterations are refused before any work', async () => {
    const error = await refusal(damaged([[212, be32(0xffffffff)]]));
    expect(error.kind).toBe('limit');
    expect(error.context.field).toBe('LUKS header');
  });

  it('a damaged key slot opens nothing: wrong passphrase', async () => {
    const error = await refusal(damaged([[4096, new Array(64).fill(0xa5)]]));
    expect(error.kind).toBe('wrong-passphrase');
  });

  it('no passphrase', async () => {
    const error = await refusal(good, {});
    expect(error.kind).toBe('needs-passphrase');
    expect(error.context.field).toBe('key-secret');
  });

  it('cipher name not NUL-terminated', async () => {
    const error = await refusal(damaged([[8, new Array(32).fill(0x61)]]));
    expect(error.kind).toBe('invalid-format');
    expect(error.message).toContain('cipher name');
  });
});
