/**
 * A disc image opened for inspection: its ISO 9660 descriptors and/or UDF volume, the tree a user
 * sees (Rock Ridge, else UDF, else Joliet, else plain ISO 9660), its El Torito boot entries, the
 * partitions in its system area (isohybrid MBR, GPT, an appended EFI partition), files read
 * lazily and a walk that never loops.
 */
import { DiskImgError } from '../errors.ts';
import type { Storage } from '../storage/storage.ts';
import { isIso9660, readDescriptors, SECTOR, type Descriptors, type VolumeDescriptor } from './descriptors.ts';
import { readBootCatalog, type BootCatalog } from './eltorito.ts';
import { Iso9660Tree } from './iso9660.ts';
import { readPathTables, type PathTableReport } from './path-table.ts';
import { readSystemArea, type SystemArea, type SystemAreaPartition } from './system-area.ts';
import type { DiscEntry, DiscTree } from './types.ts';
import { UdfTree } from './udf-tree.ts';
import { hasUdfRecognition, readUdfVolume } from './udf-volume.ts';
import { readZisofs } from './zisofs.ts';

const DEVICE_NAMES = { dir: 'directory', block: 'block device', char: 'character device', fifo: 'FIFO', socket: 'socket' } as const;

function plainTree(storage: Storage, iso9660: Iso9660Volume): Iso9660Tree {
  const enhanced = iso9660.descriptors.supplementary.find((v) => v.enhanced);
  if (enhanced) return Iso9660Tree.plain(storage, enhanced);
  return iso9660.primaryTree.kind === 'iso9660' ? iso9660.primaryTree : Iso9660Tree.plain(storage, iso9660.descriptors.primary);
}

/** Entries looked at (breadth first, the top levels) to find the files that hold the boot images. */
const BOOT_SEARCH_ENTRIES = 4096;
const BOOT_SEARCH_DEPTH = 4;

/**
 * The file each boot image is (xorriso's "img path"): the file whose data starts at the image's
 * sector. Its size is the image's real size — a no-emulation entry records only the 4 sectors
 * the BIOS loads first. Only the top levels are searched, so opening a huge disc stays quick.
 */
async function findBootFiles(tree: DiscTree, catalog: BootCatalog): Promise<void> {
  const wanted = new Map(catalog.entries.map((e) => [e.offset, e]));
  let queue: DiscEntry[] = [tree.root()];
  let seen = 0;
  try {
    for (let depth = 0; depth < BOOT_SEARCH_DEPTH && queue.length > 0 && seen < BOOT_SEARCH_ENTRIES; depth++) {
      const next: DiscEntry[] = [];
      for (const dir of queue) {
        for (const entry of await tree.list(dir)) {
          if (++seen > BOOT_SEARCH_ENTRIES) return;
          if (entry.type === 'dir') next.push(entry);
          const first = entry.extents[0];
          if (entry.type !== 'file' || !first || entry.size === 0) continue;
          for (const boot of catalog.entries) {
            if (boot.offset !== first.offset || boot.path !== undefined || !wanted.has(first.offset)) continue;
            boot.path = entry.path;
            if (boot.sizeFrom !== 'floppy') Object.assign(boot, { loadSize: entry.size, sizeFrom: 'file' });
          }
        }
      }
      queue = next;
    }
  } catch (error) {
    // Damage below the top is reported when that part is listed, not at open.
    if (!(error instanceof DiskImgError)) throw error;
  }
}

/** Deeper than any real tree (Rock Ridge relocation included; PATH_MAX allows ~2000 one-letter levels): deeper is a loop in disguise. */
export const MAX_DEPTH = 1024;
const READ_CHUNK = 4 << 20;
const MAX_RANGE = 16 << 20;

export type TreeKind = DiscTree['kind'];

/** Names kept of the files a truncated image cuts (the count goes on). */
const TRUNCATED_NAMES = 20;
/** Entries looked at to find them: a huge disc's open stays bounded. */
const TRUNCATED_SEARCH = 200_000;

/** An image shorter than the volume it records: how much is missing, and which files lose data. */
export interface Truncation {
  /** Bytes the volume says it spans, and bytes the image has. */
  volumeSize: number;
  imageSize: number;
  missing: number;
  /** The first files (paths) whose data lies at least partly past the end. */
  files: string[];
  /** How many files lose data (of those looked at). */
  fileCount: number;
  /** False when the search stopped early (too many entries, or a directory itself lies past the end): the count is a lower bound. */
  complete: boolean;
  /** Why the search stopped, when it did. */
  stopped?: string;
}

async function findTruncation(
  storage: Storage,
  volumeSize: number,
  walk: () => AsyncGenerator<DiscEntry>,
): Promise<Truncation | undefined> {
  if (storage.size >= volumeSize) return undefined;
  const t: Truncation = {
    volumeSize,
    imageSize: storage.size,
    missing: volumeSize - storage.size,
    files: [],
    fileCount: 0,
    complete: true,
  };
  let seen = 0;
  try {
    for await (const entry of walk()) {
      if (++seen > TRUNCATED_SEARCH) {
        Object.assign(t, { complete: false, stopped: `more than ${TRUNCATED_SEARCH} entries` });
        break;
      }
      if (entry.type !== 'file' || !entry.extents.some((e) => e.offset >= 0 && e.length > 0 && e.offset + e.length > storage.size))
        continue;
      if (t.files.length < TRUNCATED_NAMES) t.files.push(entry.path);
      t.fileCount++;
    }
  } catch (error) {
    if (!(error instanceof DiskImgError)) throw error;
    Object.assign(t, { complete: false, stopped: error.message });
  }
  return t;
}

export interface OpenDiscOptions {
  /**
   * The tree names come from. By default Rock Ridge when the disc has it (xorriso's choice: the
   * only one with symlinks, modes and owners), else UDF (7-Zip's and Windows' choice over ISO
   * 9660: Windows installers keep their files in UDF only), else Joliet, else plain ISO 9660.
   */
  names?: TreeKind;
}

export interface Iso9660Volume {
  descriptors: Descriptors;
  primaryTree: Iso9660Tree;
  jolietVolume?: VolumeDescriptor;
  jolietTree?: Iso9660Tree;
  pathTables: PathTableReport;
}

export class Disc {
  private constructor(
    readonly storage: Storage,
    /** The ISO 9660 side: absent on a UDF-only disc (mkudffs). */
    readonly iso9660: Iso9660Volume | undefined,
    /** The UDF side (a bridge disc, or UDF only). */
    readonly udfTree: UdfTree | undefined,
    /** Why a UDF volume that was announced could not be read (the ISO 9660 tree is used instead). */
    readonly udfError: DiskImgError | undefined,
    /** The tree names are shown from. */
    readonly tree: DiscTree,
    readonly bootCatalog: BootCatalog | null,
    /** The MBR and/or GPT in the first 32 KiB (isohybrid, -append_partition). */
    readonly systemArea: SystemArea,
  ) {}

  /** Set at open when the image is shorter than its volume (a download cut short). */
  truncation: Truncation | undefined;

  get partitions(): SystemAreaPartition[] {
    return this.systemArea.partitions;
  }

  static async open(storage: Storage, options: OpenDiscOptions = {}): Promise<Disc> {
    const head = storage.size >= 17 * SECTOR ? await storage.read(16 * SECTOR, SECTOR) : new Uint8Array(0);
    let iso9660: Iso9660Volume | undefined;
    if (head.length > 0 && isIso9660(head)) {
      const descriptors = await readDescriptors(storage);
      const primaryTree = await Iso9660Tree.primary(storage, descriptors.primary);
      const jolietVolume = descriptors.supplementary.find((v) => v.joliet !== undefined);
      const jolietTree = jolietVolume ? Iso9660Tree.joliet(storage, jolietVolume) : undefined;
      iso9660 = { descriptors, primaryTree, jolietVolume, jolietTree, pathTables: await readPathTables(storage, descriptors.primary) };
    }
    let udfTree: UdfTree | undefined;
    let udfError: DiskImgError | undefined;
    const announced = await hasUdfRecognition(storage);
    if (announced || !iso9660) {
      try {
        const volume = await readUdfVolume(storage);
        if (volume) udfTree = await UdfTree.open(storage, volume);
      } catch (error) {
        if (!(error instanceof DiskImgError) || !iso9660) throw error;
        udfError = error;
      }
    }
    if (!iso9660 && !udfTree) {
      throw new DiskImgError(
        'invalid-format',
        `Not an ISO 9660 or UDF disc image: no CD001 volume descriptor at byte ${16 * SECTOR} and no UDF anchor at sector 256`,
        { file: storage.name, field: 'volume descriptor', offset: 16 * SECTOR },
      );
    }
    const trees: Partial<Record<TreeKind, DiscTree>> = {
      udf: udfTree,
      'rock-ridge': iso9660?.primaryTree.kind === 'rock-ridge' ? iso9660.primaryTree : undefined,
      joliet: iso9660?.jolietTree,
      // Plain names: from an ISO 9660:1999 enhanced volume when there is one (longer names), else the primary volume.
      iso9660: iso9660 ? plainTree(storage, iso9660) : undefined,
    };
    let tree: DiscTree | undefined;
    if (options.names) {
      tree = trees[options.names];
      if (!tree)
        throw new DiskImgError('not-found', `The disc has no ${options.names} tree`, {
          file: storage.name,
          field: 'names',
          value: options.names,
        });
    } else tree = trees['rock-ridge'] ?? trees.udf ?? trees.joliet ?? trees.iso9660!;
    const bootSector = iso9660?.descriptors.bootCatalog;
    const bootCatalog = bootSector !== undefined ? await readBootCatalog(storage, bootSector) : null;
    if (bootCatalog) await findBootFiles(tree, bootCatalog);
    const primary = iso9660?.descriptors.primary;
    const volumeEnd = primary
      ? primary.volumeSpaceSize * SECTOR
      : udfTree
        ? Math.max(...udfTree.volume.partitions.map((p) => (p.start + p.length) * udfTree.volume.blockSize))
        : undefined;
    const systemArea = await readSystemArea(storage, volumeEnd);
    const disc = new Disc(storage, iso9660, udfTree, udfError, tree, bootCatalog, systemArea);
    if (volumeEnd !== undefined) disc.truncation = await findTruncation(storage, volumeEnd, () => disc.walk());
    return disc;
  }

  /** The trees this disc offers, in the order names are preferred. */
  get available(): TreeKind[] {
    const kinds: TreeKind[] = [];
    if (this.iso9660?.primaryTree.kind === 'rock-ridge') kinds.push('rock-ridge');
    if (this.udfTree) kinds.push('udf');
    if (this.iso9660?.jolietTree) kinds.push('joliet');
    if (this.iso9660) kinds.push('iso9660');
    return kinds;
  }

  get descriptors(): Descriptors | undefined {
    return this.iso9660?.descriptors;
  }

  /** The ISO 9660 primary volume descriptor; undefined on a UDF-only disc. */
  get primary(): VolumeDescriptor | undefined {
    return this.iso9660?.descriptors.primary;
  }

  get primaryTree(): Iso9660Tree | undefined {
    return this.iso9660?.primaryTree;
  }

  get jolietVolume(): VolumeDescriptor | undefined {
    return this.iso9660?.jolietVolume;
  }

  /** The disc's label as a user knows it: Joliet's (longer, Unicode) or the primary volume's, else UDF's logical volume. */
  get label(): string {
    const primary = this.primary?.volumeId ?? '';
    const joliet = this.jolietVolume?.volumeId ?? '';
    const iso = joliet && !(primary.length > joliet.length && primary.startsWith(joliet)) ? joliet : primary;
    return iso || this.udfTree?.volume.logicalVolumeId || this.udfTree?.volume.volumeId || '';
  }

  /** The entry at an absolute path ("/" is the root); names compare exactly, then case-blind for plain ISO 9660 and UDF (Windows reads UDF case-blind). */
  async resolve(path: string): Promise<DiscEntry> {
    let entry = this.tree.root();
    for (const part of path.split('/').filter(Boolean)) {
      if (entry.type !== 'dir')
        throw new DiskImgError('not-found', `${entry.path} is not a directory`, { file: this.storage.name, field: 'path', value: path });
      const children = await this.tree.list(entry);
      const found =
        children.find((c) => c.name === part) ??
        (this.tree.kind === 'iso9660' || this.tree.kind === 'udf'
          ? children.find((c) => c.name.toUpperCase() === part.toUpperCase())
          : undefined);
      if (!found)
        throw new DiskImgError('not-found', `No such file or directory on the disc: ${path}`, {
          file: this.storage.name,
          field: 'path',
          value: path,
        });
      entry = found;
    }
    return entry;
  }

  /**
   * Every entry below `from`, depth first, each directory listed when reached (memory holds one
   * directory per level, never the whole tree). A directory that is its own ancestor is a loop;
   * one reached twice by different paths (a "hard-linked" directory, which neither ISO 9660 nor
   * UDF allows) is refused too, or a few crafted records could make the walk exponential.
   */
  async *walk(from: DiscEntry = this.tree.root()): AsyncGenerator<DiscEntry> {
    const ancestors = new Set<string>([JSON.stringify(from.ref)]);
    const seen = new Map<string, string>([[JSON.stringify(from.ref), from.path]]);
    yield* this.walkBelow(from, ancestors, seen, 1);
  }

  private async *walkBelow(dir: DiscEntry, ancestors: Set<string>, seen: Map<string, string>, depth: number): AsyncGenerator<DiscEntry> {
    if (depth > MAX_DEPTH)
      throw new DiskImgError('limit', `The directory tree is deeper than ${MAX_DEPTH} levels at ${shorten(dir.path)}`, {
        file: this.storage.name,
        field: 'depth',
        value: depth,
      });
    for (const entry of await this.tree.list(dir)) {
      yield entry;
      if (entry.type !== 'dir') continue;
      const key = JSON.stringify(entry.ref);
      if (ancestors.has(key))
        throw new DiskImgError('corrupt', `Directory loop: ${shorten(entry.path)} is one of its own parent directories`, {
          file: this.storage.name,
          field: 'directory extent',
          value: entry.path,
        });
      const earlier = seen.get(key);
      if (earlier !== undefined)
        throw new DiskImgError(
          'corrupt',
          `Directory ${shorten(entry.path)} is the same directory as ${shorten(earlier)}: a directory may have only one parent`,
          { file: this.storage.name, field: 'directory extent', value: entry.path },
        );
      seen.set(key, entry.path);
      ancestors.add(key);
      yield* this.walkBelow(entry, ancestors, seen, depth + 1);
      ancestors.delete(key);
    }
  }

  /**
   * A file's bytes in order, in chunks of at most `chunk` bytes (4 MiB by default), from byte
   * `start` for `length` bytes (the whole file by default). Data past the end of the image is an
   * error, not zeros; unrecorded (sparse) UDF extents read as zeros.
   */
  async *read(entry: DiscEntry, options: { start?: number; length?: number; chunk?: number } = {}): AsyncGenerator<Uint8Array> {
    if (entry.type === 'dir')
      throw new DiskImgError('usage', `${entry.path} is a directory`, { file: this.storage.name, field: 'path', value: entry.path });
    const chunk = Math.max(512, Math.min(options.chunk ?? READ_CHUNK, 64 << 20));
    let skip = Math.max(0, options.start ?? 0);
    let left = Math.max(0, Math.min(options.length ?? entry.size, entry.size - skip));
    if (entry.type !== 'file') {
      // A device, FIFO or socket has no bytes; a symlink's are its target.
      if (entry.type !== 'symlink')
        throw new DiskImgError('usage', `${entry.path} is a ${DEVICE_NAMES[entry.type]}: it has no bytes to read`, {
          file: this.storage.name,
          field: 'path',
          value: entry.path,
        });
      return;
    }
    if (entry.zisofs) {
      yield* this.readZisofs(entry, entry.zisofs, skip, left, chunk);
      return;
    }
    if (entry.inline) {
      if (left > 0) yield entry.inline.subarray(skip, skip + left);
      return;
    }
    for (const extent of entry.extents) {
      if (left <= 0) return;
      if (skip >= extent.length) {
        skip -= extent.length;
        continue;
      }
      const take = Math.min(extent.length - skip, left);
      if (extent.offset >= 0 && extent.offset + extent.length > this.storage.size) {
        throw new DiskImgError(
          'invalid-format',
          `The data of ${entry.path} lies at bytes ${extent.offset}–${extent.offset + extent.length}, past the end of the image (${this.storage.size} bytes): the image is truncated or damaged`,
          { file: this.storage.name, field: 'extent', offset: extent.offset, value: extent.length },
        );
      }
      for (let done = 0; done < take; done += chunk) {
        const size = Math.min(chunk, take - done);
        yield extent.offset < 0 ? new Uint8Array(size) : await this.storage.read(extent.offset + skip + done, size);
      }
      left -= take;
      skip = 0;
    }
  }

  /** A zisofs file decompressed: the stored bytes (its extents) are read through the plain path. */
  private async *readZisofs(
    entry: DiscEntry,
    z: NonNullable<DiscEntry['zisofs']>,
    start: number,
    length: number,
    chunk: number,
  ): AsyncGenerator<Uint8Array> {
    const stored: DiscEntry = { ...entry, size: z.stored, zisofs: undefined };
    const read = (offset: number, size: number) => this.readRange(stored, offset, size);
    const codec = {
      algorithm: z.version === 2 ? ('PZ' as const) : ('pz' as const),
      entry: z.entry,
      headerSize: z.headerSize,
      blockLog2: Math.log2(z.blockSize),
      size: entry.size,
      stored: z.stored,
    };
    for await (const block of readZisofs(codec, entry.path, read, start, length)) {
      for (let at = 0; at < block.length; at += chunk) yield block.subarray(at, Math.min(block.length, at + chunk));
    }
  }

  /** Up to `length` bytes of a file from `start`, in one array (a preview: at most 16 MiB). */
  async readRange(entry: DiscEntry, start: number, length: number): Promise<Uint8Array> {
    if (length > MAX_RANGE)
      throw new DiskImgError(
        'limit',
        `A range of ${length} bytes is more than the ${MAX_RANGE} one read returns; stream the file with read() instead`,
        { file: this.storage.name, field: 'length', value: length },
      );
    const out = new Uint8Array(Math.max(0, Math.min(length, entry.size - start)));
    let at = 0;
    for await (const bytes of this.read(entry, { start, length })) {
      out.set(bytes, at);
      at += bytes.length;
    }
    return out;
  }

  /** A boot image's bytes (its load size, from the entry's start). */
  async *readBootImage(index: number): AsyncGenerator<Uint8Array> {
    const entry = this.bootCatalog?.entries[index];
    if (!entry)
      throw new DiskImgError('not-found', `No El Torito boot entry ${index}`, {
        file: this.storage.name,
        field: 'boot entry',
        value: index,
      });
    const end = Math.min(this.storage.size, entry.offset + entry.loadSize);
    for (let at = entry.offset; at < end; at += READ_CHUNK) yield await this.storage.read(at, Math.min(READ_CHUNK, end - at));
  }
}

export { SECTOR };

/** A path for a one-line message: its start and end when it is very long. */
function shorten(path: string): string {
  return path.length <= 120 ? path : `${path.slice(0, 40)}…${path.slice(-70)}`;
}
