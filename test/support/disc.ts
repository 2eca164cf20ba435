/** Test support for discs: the whole tree, and a file's bytes, collected from the reader's streams. */
import type { Disc } from '../../src/core/iso/disc.ts';
import type { DiscEntry } from '../../src/core/iso/types.ts';

export async function walk(disc: Disc): Promise<DiscEntry[]> {
  const out: DiscEntry[] = [];
  for await (const entry of disc.walk()) out.push(entry);
  return out;
}

export async function bytesOf(disc: Disc, entry: DiscEntry): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of disc.read(entry)) parts.push(chunk);
  return Buffer.concat(parts);
}
