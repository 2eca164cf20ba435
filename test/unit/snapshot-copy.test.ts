/**
 * Snapshot create and delete into a new file (the page's way): the input untouched, the output
 * what `cp` then `qemu-img snapshot -c/-d` on the copy gives — qemu-img check clean, snapshot -l
 * listing it or not, the disk and every snapshot's state the same. Bad requests say what is wrong.
 */
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { copyWithSnapshotChange, type SnapshotChange } from '../../src/core/pipeline/snapshot-copy.ts';
import { MemorySink } from '../../src/core/sink.ts';
import { PatchedStorage } from '../../src/core/storage/patched.ts';
import { MemoryStorage } from '../../src/core/storage/storage.ts';
import { NodeFileStorage } from '../../src/node/file-storage.ts';
import { pattern } from '../interop/fixtures.ts';
import { qemuImg, qemuIo, scratchDir } from '../support/qemu.ts';

const MiB = 1 << 20;
let dir: string;
let image: string;
beforeAll(() => {
  dir = scratchDir();
  const raw = join(dir, 'source.raw');
  writeFileSync(raw, Buffer.concat([pattern('text', 2 * MiB, 1), pattern('random', MiB, 2), Buffer.alloc(3 * MiB)]));
  image = join(dir, 'disk.qcow2');
  qemuImg('convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, image);
  qemuImg('snapshot', '-c', 'first', image);
  qemuIo(image, 'write -P 0x11 1M 1M');
  qemuImg('snapshot', '-c', 'second', image);
  qemuIo(image, 'write -P 0x22 4M 512k');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function ours(change: SnapshotChange, name: string, from = image): Promise<string> {
  const input = await NodeFileStorage.open(from);
  const sink = new MemorySink();
  await copyWithSnapshotChange(input, change, sink);
  const out = join(dir, name);
  writeFileSync(out, sink.bytes);
  return out;
}

const names = (file: string): string[] =>
  (JSON.parse(qemuImg('info', '--output=json', file)).snapshots ?? []).map((s: { name: string }) => s.name);
const same = (a: string, b: string, snapshot?: string) => {
  const state = (file: string) => {
    const out = `${file}.${snapshot ?? 'current'}.raw`;
    qemuImg('convert', ...(snapshot ? ['-l', `snapshot.name=${snapshot}`] : []), '-O', 'raw', file, out);
    return readFileSync(out);
  };
  expect(Buffer.compare(state(a), state(b))).toBe(0);
};

describe('copyWithSnapshotChange', () => {
  it('adds a snapshot of the current disk, leaving the input as it was', async () => {
    const before = readFileSync(image);
    const out = await ours({ action: 'create', name: 'third' }, 'created.qcow2');
    expect(Buffer.compare(readFileSync(image), before)).toBe(0);
    expect(qemuImg('check', out)).toContain('No errors were found');
    expect(names(out)).toEqual(['first', 'second', 'third']);
    const theirs = join(dir, 'created.qemu.qcow2');
    copyFileSync(image, theirs);
    qemuImg('snapshot', '-c', 'third', theirs);
    for (const snapshot of [undefined, 'first', 'second', 'third']) same(out, theirs, snapshot);
    // Byte for byte but for the new entry's time (date_sec and date_nsec: 8 bytes side by side).
    const a = readFileSync(out);
    const b = readFileSync(theirs);
    expect(a.length).toBe(b.length);
    const differing = [...a.keys()].filter((i) => a[i] !== b[i]);
    expect(differing.length).toBeLessThanOrEqual(8);
    if (differing.length > 0) expect(differing.at(-1)! - differing[0]).toBeLessThan(8);
  });

  it('removes a snapshot as qemu-img snapshot -d on a copy does, byte for byte', async () => {
    const out = await ours({ action: 'delete', name: 'first' }, 'deleted.qcow2');
    expect(qemuImg('check', out)).toContain('No errors were found');
    expect(names(out)).toEqual(['second']);
    const theirs = join(dir, 'deleted.qemu.qcow2');
    copyFileSync(image, theirs);
    qemuImg('snapshot', '-d', 'first', theirs);
    same(out, theirs);
    same(out, theirs, 'second');
    expect(Buffer.compare(readFileSync(out), readFileSync(theirs))).toBe(0);
  });

  it('refuses a name already taken, a snapshot that is not there, an empty name, and a raw image', async () => {
    await expect(ours({ action: 'create', name: 'first' }, 'x.qcow2')).rejects.toThrow(
      "The image already has a snapshot named 'first': choose another name",
    );
    await expect(ours({ action: 'delete', name: 'nope' }, 'x.qcow2')).rejects.toThrow('snapshot not found');
    await expect(ours({ action: 'create', name: '' }, 'x.qcow2')).rejects.toThrow('A snapshot needs a name');
    const raw = join(dir, 'plain.raw');
    writeFileSync(raw, Buffer.alloc(MiB));
    const refused = await ours({ action: 'create', name: 'a' }, 'x.raw', raw).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DiskImgError);
    expect((refused as DiskImgError).message).toBe('Internal snapshots are a qcow2 feature: this image is raw');
  });
});

describe('PatchedStorage', () => {
  it('lays writes over the original, splitting and replacing earlier ones, and holds zeros as lengths', async () => {
    const base = new MemoryStorage(new Uint8Array(64).fill(1));
    const patched = new PatchedStorage(base);
    await patched.write(8, new Uint8Array(16).fill(2));
    await patched.write(12, new Uint8Array(4).fill(3));
    await patched.write(20, new Uint8Array(8));
    await patched.write(70, new Uint8Array([9]));
    const expected = new Uint8Array(71).fill(1);
    expected.fill(2, 8, 24).fill(3, 12, 16).fill(0, 20, 28).fill(0, 64, 70);
    expected[70] = 9;
    expect(await patched.length()).toBe(71);
    expect(await patched.read(0, 71)).toEqual(expected);
    expect(patched.heldBytes).toBe(4 + 4 + 4 + 1); // [8,12) [12,16) [16,20) and one byte; the zeros cost nothing
    await patched.truncate(10);
    expect(await patched.read(0, 12)).toEqual(new Uint8Array([1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 0, 0]));
    expect(base.size).toBe(64);
  });

  it('stops at its memory limit with a clear error', async () => {
    const patched = new PatchedStorage(new MemoryStorage(new Uint8Array(8)), 1024);
    await patched.write(0, new Uint8Array(1000).fill(5));
    await expect(patched.write(2000, new Uint8Array(100).fill(5))).rejects.toThrow(/needs more than 0 MiB of its tables in memory/);
  });
});

it('writes the result front to back, so a sink that can only append (a download stream) takes it', async () => {
  let at = 0;
  const appendOnly = {
    async write(offset: number, bytes: Uint8Array) {
      expect(offset).toBe(at);
      at += bytes.length;
    },
    async close() {},
  };
  const input = await NodeFileStorage.open(image);
  const length = await copyWithSnapshotChange(input, { action: 'create', name: 'streamed' }, appendOnly);
  expect(at).toBe(length);
  expect(length).toBeGreaterThan(readFileSync(image).length);
});
