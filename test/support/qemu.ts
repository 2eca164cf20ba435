/** Test support: make images with the real qemu-img/qemu-io, patch copies, open them with the engine. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, openSync, writeSync, closeSync, readSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { DiskImage, OpenOptions } from '../../src/core/disk.ts';
import { DiskImgError } from '../../src/core/errors.ts';
import { openImage } from '../../src/core/open.ts';
import { combinePath } from '../../src/core/paths.ts';
import { NodeFileStorage } from '../../src/node/file-storage.ts';
import { MemorySink } from '../../src/core/sink.ts';
import { convertToRaw } from '../../src/core/pipeline/convert.ts';

export function scratchDir(prefix = 'diskimg-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function qemuImg(...args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs qemu-img expecting failure; returns its stderr. */
export function qemuImgError(...args: string[]): string {
  try {
    execFileSync('qemu-img', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    return String((error as { stderr: string }).stderr);
  }
  throw new Error(`qemu-img ${args.join(' ')} unexpectedly succeeded`);
}

export function qemuIo(file: string, ...commands: string[]): void {
  const args = ['-f', 'qcow2'];
  for (const command of commands) args.push('-c', command);
  execFileSync('qemu-io', [...args, file], { stdio: 'ignore' });
}

export function readBE64(file: string, offset: number): bigint {
  const fd = openSync(file, 'r');
  const buffer = Buffer.alloc(8);
  readSync(fd, buffer, 0, 8, offset);
  closeSync(fd);
  return buffer.readBigUInt64BE(0);
}

export function patch(file: string, offset: number, bytes: Uint8Array | number[]): void {
  const fd = openSync(file, 'r+');
  writeSync(fd, Uint8Array.from(bytes), 0, bytes.length, offset);
  closeSync(fd);
}

export const be32 = (value: number) => [(value >>> 24) & 255, (value >>> 16) & 255, (value >>> 8) & 255, value & 255];
export const be64 = (value: bigint) => {
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64BE(value);
  return [...buffer];
};

export function copy(from: string, to: string): string {
  writeFileSync(to, readFileSync(from));
  return to;
}

/** Where the first L2 table and its first data cluster of a qemu-img image are. */
export function firstL2(file: string): { l1: number; l2: number } {
  const l1 = Number(readBE64(file, 40));
  const l2 = Number(readBE64(file, l1) & 0x00fffffffffffe00n);
  return { l1, l2 };
}

export async function open(path: string, options: OpenOptions = {}): Promise<DiskImage> {
  const storage = await NodeFileStorage.open(path);
  try {
    return await openImage(storage, {
      resolveBacking: async (name, overlay) => NodeFileStorage.open(combinePath(overlay.name, name)),
      ...options,
    });
  } catch (error) {
    await storage.close();
    throw error;
  }
}

/**
 * Opens the image and reads its whole guest disk, expecting the engine to refuse it: the
 * DiskImgError it refuses with (anything else fails the test, and so does a clean read).
 */
export async function readFailure(file: string, options: OpenOptions = {}): Promise<DiskImgError> {
  try {
    const image = await open(file, options);
    try {
      await readAll(image);
    } finally {
      await image.close();
    }
  } catch (error) {
    expect(error).toBeInstanceOf(DiskImgError);
    return error as DiskImgError;
  }
  throw new Error(`${file} was read without error`);
}

/** The whole guest disk in memory: only for the small images of unit tests. */
export async function readAll(image: DiskImage): Promise<Uint8Array> {
  const sink = new MemorySink();
  await convertToRaw(image, sink);
  return sink.bytes;
}
