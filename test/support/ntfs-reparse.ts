/**
 * NTFS reparse data as [MS-FSCC] 2.1.2.4 (symbolic links) and 2.1.2.5 (mount points, i.e.
 * junctions) lay it out, for ntfs-3g to write through its system.ntfs_reparse_data attribute
 * (ntfs-3g checks the buffer and writes the $REPARSE_POINT attribute and the $Reparse index).
 */
import { execFileSync } from 'node:child_process';

const utf16 = (s: string) => Buffer.from(s, 'utf16le');

/** IO_REPARSE_TAG_SYMLINK: substitute and print names, then flags (1: relative). */
export function symlinkReparse(substitute: string, print: string, relative: boolean): Buffer {
  const [s, p] = [utf16(substitute), utf16(print)];
  const body = Buffer.alloc(12);
  body.writeUInt16LE(0, 0);
  body.writeUInt16LE(s.length, 2);
  body.writeUInt16LE(s.length, 4);
  body.writeUInt16LE(p.length, 6);
  body.writeUInt32LE(relative ? 1 : 0, 8);
  return withHeader(0xa000000c, Buffer.concat([body, s, p]));
}

/** IO_REPARSE_TAG_MOUNT_POINT: substitute and print names, each NUL-terminated, no flags. */
export function junctionReparse(substitute: string, print: string): Buffer {
  const [s, p] = [utf16(substitute), utf16(print)];
  const body = Buffer.alloc(8);
  body.writeUInt16LE(0, 0);
  body.writeUInt16LE(s.length, 2);
  body.writeUInt16LE(s.length + 2, 4);
  body.writeUInt16LE(p.length, 6);
  return withHeader(0xa0000003, Buffer.concat([body, s, Buffer.alloc(2), p, Buffer.alloc(2)]));
}

function withHeader(tag: number, body: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32LE(tag, 0);
  header.writeUInt16LE(body.length, 4);
  return Buffer.concat([header, body]);
}

/** Sets an extended attribute through a FUSE mount (ntfs-3g's system.ntfs_reparse_data, its user.* streams). */
export const setxattr = (path: string, name: string, value: Buffer) =>
  execFileSync('python3', ['-c', 'import os, sys; os.setxattr(sys.argv[1], sys.argv[2], sys.stdin.buffer.read())', path, name], {
    input: value,
  });
