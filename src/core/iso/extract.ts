/** A disc folder as ZIP entries: what "extract a folder" streams into a zip in the page and the CLI. */
import type { Disc } from './disc.ts';
import type { DiscEntry } from './types.ts';
import type { ZipInput } from './zip.ts';

/**
 * Entries below `dir` (and `dir` itself as the archive's top folder), read lazily; zisofs files
 * decompressed. Devices, FIFOs and sockets are left out: a zip has no way to hold them.
 */
export async function* zipEntries(disc: Disc, dir: DiscEntry): AsyncGenerator<ZipInput> {
  const top = dir.path === '/' ? disc.label || 'disc' : dir.name;
  yield { path: top, type: 'dir', size: 0, modified: dir.modified, mode: dir.mode };
  const prefix = dir.path === '/' ? '/' : `${dir.path}/`;
  for await (const entry of disc.walk(dir)) {
    if (entry.type !== 'file' && entry.type !== 'dir' && entry.type !== 'symlink') continue;
    yield {
      path: `${top}/${entry.path.slice(prefix.length)}`,
      type: entry.type,
      size: entry.size,
      mode: entry.mode,
      modified: entry.modified,
      target: entry.target,
      data: () => disc.read(entry),
    };
  }
}
