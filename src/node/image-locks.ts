// Node-only: whether another process holds an image as QEMU does, so the verbs that write in
// place can refuse it as qemu-img does.
import { readFile, stat } from 'node:fs/promises';

/**
 * QEMU's permissions in bit order (block.c bdrv_perm_names). file-posix.c locks byte 100 + bit of
 * an image for each permission a user holds, and byte 200 + bit for each it will not share, with
 * open file description locks that Linux lists in /proc/locks.
 */
const PERMISSIONS = ['consistent read', 'write', 'write unchanged', 'resize'] as const;
type Permission = (typeof PERMISSIONS)[number];
const HELD_BASE = 100;
const UNSHARED_BASE = 200;

/** What qemu-img shares of an image it opens (BDRV_O_NO_SHARE, without -U): never write. */
const SHARED: readonly Permission[] = ['consistent read', 'write unchanged'];

interface ByteLock {
  start: number;
  end: number;
}

/** The locks other processes hold on this file, from /proc/locks; none where the platform has no such list. */
async function locksOn(path: string): Promise<ByteLock[]> {
  let table: string;
  try {
    table = await readFile('/proc/locks', 'utf8');
  } catch {
    return [];
  }
  const found = await stat(path).catch(() => undefined);
  if (!found) return []; // the open that follows says why
  const { dev, ino } = found;
  // /proc/locks names the device major:minor in hex (Linux's new_encode_dev split of st_dev).
  const major = ((dev >> 8) & 0xfff).toString(16).padStart(2, '0');
  const minor = ((dev & 0xff) | ((dev >> 12) & 0xfff00)).toString(16).padStart(2, '0');
  const id = `${major}:${minor}:${ino}`;
  const locks: ByteLock[] = [];
  for (const line of table.split('\n')) {
    // "1: OFDLCK ADVISORY  READ -1 fe:00:2150685 201 201" (a blocked waiter's line starts "1: ->").
    const fields = line.trim().split(/\s+/);
    if (fields[1] === '->') continue;
    const at = fields.indexOf(id);
    if (at < 0 || !['OFDLCK', 'POSIX'].includes(fields[1])) continue;
    const end = fields[at + 2] === 'EOF' ? Infinity : Number(fields[at + 2]);
    locks.push({ start: Number(fields[at + 1]), end });
  }
  return locks;
}

/**
 * Why qemu-img could not open the image, in its words (raw_check_lock_bytes), or undefined: another
 * process (a running VM, qemu-io, qemu-img) will not share a permission this one needs (write to
 * change it, resize to resize it, consistent read always), or holds one that is not shared (write).
 */
export async function lockConflict(path: string, wants: { write?: boolean; resize?: boolean } = {}): Promise<string | undefined> {
  const needs: Permission[] = ['consistent read'];
  if (wants.write) needs.push('write');
  if (wants.resize) needs.push('resize');
  const locks = await locksOn(path);
  const held = (byte: number) => locks.some((lock) => lock.start <= byte && byte <= lock.end);
  for (const permission of needs) if (held(UNSHARED_BASE + PERMISSIONS.indexOf(permission))) return `Failed to get "${permission}" lock`;
  for (const permission of PERMISSIONS)
    if (!SHARED.includes(permission) && held(HELD_BASE + PERMISSIONS.indexOf(permission)))
      return `Failed to get shared "${permission}" lock`;
  return undefined;
}
