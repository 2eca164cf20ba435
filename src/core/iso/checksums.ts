/**
 * Checksums of a whole image, streamed (SHA-256, SHA-1, MD5 at once, one read), and the check of
 * a pasted SHA256SUMS-style text against them. The hash functions are injected: native in Node,
 * WebAssembly in the page.
 */
import { readInto, type Storage } from '../storage/storage.ts';

export type HashName = 'sha256' | 'sha1' | 'md5';
export const HASH_LENGTH: Record<HashName, number> = { sha256: 64, sha1: 40, md5: 32 };

export interface Hasher {
  update(bytes: Uint8Array): void;
  /** Lower-case hex. */
  digest(): string;
}
export type HasherFactory = (name: HashName) => Hasher | Promise<Hasher>;

const CHUNK = 4 << 20;

export async function checksums(
  storage: Storage,
  names: readonly HashName[],
  create: HasherFactory,
  onProgress?: (done: number, total: number) => void,
): Promise<Partial<Record<HashName, string>>> {
  const hashers = await Promise.all(names.map(async (name) => [name, await create(name)] as const));
  // Two buffers, reused: one is read into (in the page, from the File's stream) while the other is
  // hashed. A fresh buffer per read costs its page faults on every byte.
  const buffers = [new Uint8Array(Math.min(CHUNK, storage.size)), new Uint8Array(Math.min(CHUNK, storage.size))];
  const readChunk = async (at: number): Promise<Uint8Array> => {
    const chunk = buffers[(at / CHUNK) % 2].subarray(0, Math.min(CHUNK, storage.size - at));
    await readInto(storage, at, chunk);
    return chunk;
  };
  let next = storage.size > 0 ? readChunk(0) : undefined;
  for (let at = 0; at < storage.size; at += CHUNK) {
    const chunk = await next!;
    const following = at + CHUNK;
    next = following < storage.size ? readChunk(following) : undefined;
    for (const [, hasher] of hashers) hasher.update(chunk);
    onProgress?.(Math.min(storage.size, following), storage.size);
  }
  return Object.fromEntries(hashers.map(([name, hasher]) => [name, hasher.digest()]));
}

/**
 * Hashing on another thread (the page's hash worker): a chunk goes there whole (transferred, not
 * copied) and comes back once hashed, for a later read. Chunks are hashed in the order sent.
 */
export interface HashingThread {
  /** Hashes `chunk` (a view from the start of its own buffer); resolves with that buffer back. */
  update(chunk: Uint8Array): Promise<ArrayBuffer>;
  digest(): Promise<Partial<Record<HashName, string>>>;
}

/** Buffers going round: one being read into while the others are hashed or on their way back. */
const ROUND = 3;

/**
 * Checksums with the hashing on `thread`: the reading (here) and the hashing (there) run at once,
 * each on its own core, so a single SHA-256 goes at the hash's own speed.
 */
export async function checksumsOnThread(
  storage: Storage,
  thread: HashingThread,
  onProgress?: (done: number, total: number) => void,
): Promise<Partial<Record<HashName, string>>> {
  const capacity = Math.min(CHUNK, storage.size);
  const free: ArrayBuffer[] = Array.from({ length: ROUND }, () => new ArrayBuffer(capacity));
  const hashing: Array<{ end: number; back: Promise<ArrayBuffer> }> = [];
  const settle = async () => {
    const { end, back } = hashing.shift()!;
    free.push(await back);
    onProgress?.(end, storage.size);
  };
  try {
    for (let at = 0; at < storage.size; at += CHUNK) {
      if (free.length === 0) await settle();
      const chunk = new Uint8Array(free.pop()!, 0, Math.min(CHUNK, storage.size - at));
      await readInto(storage, at, chunk);
      const end = at + chunk.length; // before update: the chunk is transferred away
      const back = thread.update(chunk);
      back.catch(() => {}); // surfaced when settled
      hashing.push({ end, back });
    }
    while (hashing.length > 0) await settle();
  } finally {
    await Promise.allSettled(hashing.map((h) => h.back));
  }
  return thread.digest();
}

export interface SumLine {
  hash: string;
  name: string;
  algorithm: HashName;
}

const BY_LENGTH: Record<number, HashName> = { 64: 'sha256', 40: 'sha1', 32: 'md5' };
const BSD_TAGS: Record<string, HashName> = { SHA256: 'sha256', SHA1: 'sha1', MD5: 'md5' };

/** GNU lines ("HASH  name", "HASH *name"), BSD lines ("SHA256 (name) = HASH") and a bare hash. */
export function parseSums(text: string): SumLine[] {
  const lines: SumLine[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const bsd = /^(SHA256|SHA1|MD5) ?\((.+)\) ?= ?([0-9a-fA-F]+)$/.exec(line);
    if (bsd) {
      const algorithm = BSD_TAGS[bsd[1]];
      if (bsd[3].length === HASH_LENGTH[algorithm]) lines.push({ hash: bsd[3].toLowerCase(), name: bsd[2], algorithm });
      continue;
    }
    const gnu = /^\\?([0-9a-fA-F]{32,64})(?:\s+\*?(.+))?$/.exec(line);
    if (gnu && BY_LENGTH[gnu[1].length])
      lines.push({ hash: gnu[1].toLowerCase(), name: gnu[2]?.trim() ?? '', algorithm: BY_LENGTH[gnu[1].length] });
  }
  return lines;
}

export type Verdict =
  | { status: 'match' | 'mismatch'; algorithm: HashName; expected: string; actual: string }
  /** Not listed under this file's name, but the checksum is listed under another (a renamed download). */
  | { status: 'listed-as'; algorithm: HashName; name: string }
  | { status: 'not-listed' };

/**
 * The line for `fileName` (by its name or a path ending in it; a lone bare hash counts) decides.
 * A line whose algorithm was not computed cannot decide: it is skipped.
 */
export function verifySums(text: string, fileName: string, computed: Partial<Record<HashName, string>>): Verdict {
  const lines = parseSums(text);
  const base = (name: string) => name.replace(/^\.\//, '').split(/[\\/]/).pop();
  const named = lines.filter((l) => l.name !== '' && (l.name === fileName || base(l.name) === fileName));
  const candidates = named.length > 0 ? named : lines.length === 1 && lines[0].name === '' ? lines : [];
  for (const line of candidates) {
    const actual = computed[line.algorithm];
    if (actual === undefined) continue;
    return { status: actual === line.hash ? 'match' : 'mismatch', algorithm: line.algorithm, expected: line.hash, actual };
  }
  const elsewhere = lines.find((line) => line.name !== '' && computed[line.algorithm] === line.hash);
  if (elsewhere) return { status: 'listed-as', algorithm: elsewhere.algorithm, name: elsewhere.name };
  return { status: 'not-listed' };
}
