/**
 * A POSIX ustar member header (512 bytes), as OVF 1.0 requires of an OVA: name, mode 0644, size,
 * mtime, checksum, type '0', "ustar\0" "00". A size of 8 GiB or more does not fit the 11 octal
 * digits; it is written in GNU's base-256 form (GNU tar, bsdtar, VirtualBox and our reader read it).
 */
import { DiskImgError } from '../../../errors.ts';

export const BLOCK = 512;
const MAX_OCTAL_SIZE = 8 ** 11 - 1;

export const padToBlock = (length: number): number => Math.ceil(length / BLOCK) * BLOCK;

function putString(block: Uint8Array, at: number, length: number, text: string): void {
  for (let i = 0; i < text.length && i < length; i++) block[at + i] = text.charCodeAt(i);
}

function putOctal(block: Uint8Array, at: number, length: number, value: number): void {
  putString(block, at, length - 1, value.toString(8).padStart(length - 1, '0'));
}

export function tarHeader(name: string, size: number, mtime: number): Uint8Array {
  if (name.length > 100 || !/^[\x20-\x7e]+$/.test(name))
    throw new DiskImgError('usage', `A tar member name must be 1 to 100 printable ASCII characters: '${name}'`, {
      field: 'tar member',
      value: name,
    });
  const block = new Uint8Array(BLOCK);
  putString(block, 0, 100, name);
  putOctal(block, 100, 8, 0o644);
  putOctal(block, 108, 8, 0);
  putOctal(block, 116, 8, 0);
  if (size <= MAX_OCTAL_SIZE) putOctal(block, 124, 12, size);
  else {
    block[124] = 0x80;
    for (let i = 135, rest = size; i > 124; i--, rest = Math.floor(rest / 256)) block[i] = rest % 256;
  }
  putOctal(block, 136, 12, Math.floor(mtime));
  block[156] = 0x30; // '0': a regular file
  putString(block, 257, 6, 'ustar\0');
  putString(block, 263, 2, '00');
  putString(block, 265, 32, 'root');
  putString(block, 297, 32, 'root');
  // The checksum sums the header with its own field as eight spaces.
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  putString(block, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return block;
}
