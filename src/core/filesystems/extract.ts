/** A file-system folder as ZIP entries (src/core/iso/zip.ts streams them): what "extract a folder as a zip" writes. */
import type { ZipInput } from '../iso/zip.ts';
import type { FileSystem, FsEntry } from './tree.ts';

/**
 * Entries below `dir` (and `dir` itself as the archive's top folder), read lazily. Devices, FIFOs
 * and sockets are left out: a zip has no way to hold them. FAT times carry no zone and are taken
 * as UTC, as the zip's DOS time has none either.
 */
export async function* fsZipEntries(fs: FileSystem, dir: FsEntry, topName = 'root'): AsyncGenerator<ZipInput> {
  const top = dir.path === '/' ? topName : dir.name;
  const modified = (e: FsEntry) => (e.mtime === undefined ? null : e.mtime.endsWith('Z') ? e.mtime : `${e.mtime}Z`);
  // A zip's external attributes hold the whole st_mode, file type bits included.
  const mode = (e: FsEntry) =>
    e.mode === undefined ? undefined : e.mode | (e.type === 'dir' ? 0o40000 : e.type === 'symlink' ? 0o120000 : 0o100000);
  yield { path: top, type: 'dir', size: 0, modified: modified(dir), mode: mode(dir) };
  const prefix = dir.path === '/' ? '/' : `${dir.path}/`;
  for await (const entry of fs.walk(dir)) {
    if (entry.type !== 'file' && entry.type !== 'dir' && entry.type !== 'symlink') continue;
    yield {
      path: `${top}/${entry.path.slice(prefix.length)}`,
      type: entry.type,
      size: entry.type === 'symlink' ? 0 : entry.size,
      mode: mode(entry),
      modified: modified(entry),
      target: entry.target,
      data: () => fs.read(entry),
    };
  }
}
