/** Test support for VHDs: writing a footer's or a dynamic header's checksum again after a patch. */
import { readFileSync, writeFileSync } from 'node:fs';

/** One's complement of the byte sum of bytes[at, at + length), the field at `at + field` taken as zero. */
export function vhdChecksum(bytes: Buffer, at: number, length: number, field: number): void {
  bytes.writeUInt32BE(0, at + field);
  let sum = 0;
  for (let i = at; i < at + length; i++) sum += bytes[i];
  bytes.writeUInt32BE(~sum >>> 0, at + field);
}

/** Writes the checksum of the footer at `at` of `file` again. */
export function resum(file: string, at: number): void {
  const bytes = readFileSync(file);
  vhdChecksum(bytes, at, 512, 64);
  writeFileSync(file, bytes);
}
