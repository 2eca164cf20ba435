/** Shared by the VDI, QED and qcow bad-input tests: damage a copy, compare with qemu-img. */
import { execFileSync } from 'node:child_process';
import { patch, qemuImgError } from '../support/qemu.ts';

/** qemu-img's own text when it refuses to open the file ("Could not open 'f': MSG"). */
export function qemuOpenMessage(file: string, format: string): string {
  const stderr = qemuImgError('info', '-f', format, file);
  const match = /Could not open '[^']*': (.*)/.exec(stderr);
  if (!match) throw new Error(`unexpected qemu-img output: ${stderr}`);
  return match[1];
}

export const le32 = (value: number) => [value & 255, (value >>> 8) & 255, (value >>> 16) & 255, (value >>> 24) & 255];
export const le64 = (value: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(value);
  return [...b];
};

export function qemuIoFormat(format: string, file: string, ...commands: string[]): void {
  execFileSync('qemu-io', ['-f', format, ...commands.flatMap((c) => ['-c', c]), file], { stdio: 'ignore' });
}

export { patch };
