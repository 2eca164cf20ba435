/**
 * An ISO disc image opened for inspection: its descriptors, the tree a user sees (Rock Ridge, else
 * Joliet, else plain ISO 9660), its El Torito boot entries, the partitions in its system area
 * (isohybrid MBR, GPT, an appended EFI partition), files read lazily and a walk that never loops.
 */
import { DiskImgError } from '../errors.ts';
import { detectPartitions, type Partition } from '../partitions/index.ts';
import type { Storage } from '../storage/storage.ts';
import { readDescriptors, SECTOR, type Descriptors, type VolumeDescriptor } from './descriptors.ts';
import { readBootCatalog, type BootCatalog } from './eltorito.ts';
import { Iso9660Tree } from './iso9660.ts';
import type { DiscEntry, DiscTree } from './types.ts';

/** Deeper than any real tree (Rock Ridge relocation included): deeper is a loop in disguise. */
export const MAX_DEPTH = 256;
const READ_CHUNK = 4 << 20;

export class Disc {
  private constructor(
    readonly storage: Storage,
    readonly descriptors: Descriptors,
    /** The tree names are shown from. */
    readonly tree: DiscTree,
    readonly primaryTree: Iso9660Tree,
    readonly jolietVolume: VolumeDescriptor | undefined,
    readonly bootCatalog: BootCatalog | null,
    readonly partitions: Partition[],
    /** The UDF volume beside (bridge) or instead of ISO 9660, once the UDF reader knows it. */
    readonly udf?: { revision: string },
  ) {}

  static async open(storage: Storage): Promise<Disc> {
    const descriptors = await readDescriptors(storage);
    const primaryTree = await Iso9660Tree.primary(storage, descriptors.primary);
    const joliet = descriptors.supplementary.find((v) => v.joliet !== undefined);
    const tree = primaryTree.kind === 'rock-ridge' || !joliet ? primaryTree : Iso9660Tree.joliet(storage, joliet);
    const bootCatalog = descriptors.bootCatalog !== undefined ? await readBootCatalog(storage, descriptors.bootCatalog) : null;
    const report = await detectPartitions({ virtualSize: storage.size, read: (offset, length) => storage.read(offset, length) });
    const partitions = report.scheme === 'none' ? [] : report.partitions;
    return new Disc(storage, descriptors, tree, primaryTree, joliet, bootCatalog, partitions);
  }

  get primary(): VolumeDescriptor {
    return this.descriptors.primary;
  }

  /** The entry at an absolute path ("/" is the root); names compare exactly, then case-blind for plain ISO 9660. */
  async resolve(path: string): Promise<DiscEntry> {
    let entry = this.tree.root();
    for (const part of path.split('/').filter(Boolean)) {
      if (entry.type !== 'dir') throw new DiskImgError('not-found', `${entry.path} is not a directory`, { file: this.storage.name, field: 'path', value: path });
      const children = await this.tree.list(entry);
      const found = children.find((c) => c.name === part) ?? (this.tree.kind === 'iso9660' ? children.find((c) => c.name.toUpperCase() === part.toUpperCase()) : undefined);
      if (!found) throw new DiskImgError('not-found', `No such file or directory on the disc: ${path}`, { file: this.storage.name, field: 'path', value: path });
      entry = found;
    }
    return entry;
  }

  /**
   * Every entry below `from`, depth first, each directory listed when reached (memory holds one
   * directory per level, never the whole tree). A directory that is its own ancestor is refused.
   */
  async *walk(from: DiscEntry = this.tree.root()): AsyncGenerator<DiscEntry> {
    const ancestors = new Set<string>([JSON.stringify(from.ref)]);
    yield* this.walkBelow(from, ancestors, 1);
  }

  private async *walkBelow(dir: DiscEntry, ancestors: Set<string>, depth: number): AsyncGenerator<DiscEntry> {
    if (depth > MAX_DEPTH) throw new DiskImgError('limit', `The directory tree is deeper than ${MAX_DEPTH} levels at ${dir.path}`, { file: this.storage.name, field: 'depth', value: dir.path });
    for (const entry of await this.tree.list(dir)) {
      yield entry;
      if (entry.type !== 'dir') continue;
      const key = JSON.stringify(entry.ref);
      if (ancestors.has(key)) throw new DiskImgError('corrupt', `Directory loop: ${entry.path} is one of its own parent directories`, { file: this.storage.name, field: 'directory extent', value: entry.path });
      ancestors.add(key);
      yield* this.walkBelow(entry, ancestors, depth + 1);
      ancestors.delete(key);
    }
  }

  /** A file's bytes in chunks of at most 4 MiB; data past the end of the image is an error, not zeros. */
  async *read(entry: DiscEntry): AsyncGenerator<Uint8Array> {
    if (entry.type === 'dir') throw new DiskImgError('usage', `${entry.path} is a directory`, { file: this.storage.name, field: 'path', value: entry.path });
    if (entry.inline) {
      yield entry.inline.subarray(0, entry.size);
      return;
    }
    for (const extent of entry.extents) {
      if (extent.offset < 0) {
        // A recorded-as-sparse extent (UDF): zeros.
        for (let done = 0; done < extent.length; done += READ_CHUNK) yield new Uint8Array(Math.min(READ_CHUNK, extent.length - done));
        continue;
      }
      if (extent.offset + extent.length > this.storage.size) {
        throw new DiskImgError('invalid-format', `The data of ${entry.path} lies at bytes ${extent.offset}–${extent.offset + extent.length}, past the end of the image (${this.storage.size} bytes): the image is truncated or damaged`, { file: this.storage.name, field: 'extent', offset: extent.offset, value: extent.length });
      }
      for (let done = 0; done < extent.length; done += READ_CHUNK) yield await this.storage.read(extent.offset + done, Math.min(READ_CHUNK, extent.length - done));
    }
  }

  /** A boot image's bytes (its load size, from the entry's start). */
  async *readBootImage(index: number): AsyncGenerator<Uint8Array> {
    const entry = this.bootCatalog?.entries[index];
    if (!entry) throw new DiskImgError('not-found', `No El Torito boot entry ${index}`, { file: this.storage.name, field: 'boot entry', value: index });
    const end = Math.min(this.storage.size, entry.offset + entry.loadSize);
    for (let at = entry.offset; at < end; at += READ_CHUNK) yield await this.storage.read(at, Math.min(READ_CHUNK, end - at));
  }
}

export { SECTOR };
