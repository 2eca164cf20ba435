/**
 * The ISO 9660 directory tree as one of three views: Rock Ridge names and attributes on the
 * primary volume, the Joliet tree of a supplementary volume, or plain ISO 9660 names.
 */
import { DiskImgError } from '../errors.ts';
import type { Storage } from '../storage/storage.ts';
import { SECTOR, type VolumeDescriptor } from './descriptors.ts';
import { isDirMode, isLinkMode, parseRecords, readDirectoryBytes, specialType, type RawRecord } from './directory.ts';
import type { DiscEntry, DiscTree } from './types.ts';

interface DirRef {
  extent: number;
  size: number;
}

export class Iso9660Tree implements DiscTree {
  private constructor(
    private readonly storage: Storage,
    readonly kind: 'rock-ridge' | 'joliet' | 'iso9660',
    private readonly volume: VolumeDescriptor,
    private readonly susp: { skip: number } | null,
    /** The Rock Ridge extension's identifier, when the primary volume carries one. */
    readonly extension?: string,
  ) {}

  /** The primary volume's tree: with Rock Ridge when its root says so (SUSP SP entry). */
  static async primary(storage: Storage, volume: VolumeDescriptor): Promise<Iso9660Tree> {
    const bytes = await readDirectoryBytes(storage, volume.root.extent, Math.min(volume.root.size, SECTOR), '/');
    const [dot] = await parseRecords(storage, bytes.subarray(0, Math.min(bytes.length, bytes[0] || 34)), volume.root.extent, false, null);
    const sp = dot?.rr?.sp;
    if (!sp) return new Iso9660Tree(storage, 'iso9660', volume, null);
    return new Iso9660Tree(storage, 'rock-ridge', volume, sp, dot.rr?.extension ?? 'RRIP');
  }

  /** The primary volume's plain ISO 9660 names, even where Rock Ridge is recorded. */
  static plain(storage: Storage, volume: VolumeDescriptor): Iso9660Tree {
    return new Iso9660Tree(storage, 'iso9660', volume, null);
  }

  static joliet(storage: Storage, volume: VolumeDescriptor): Iso9660Tree {
    return new Iso9660Tree(storage, 'joliet', volume, null);
  }

  root(): DiscEntry {
    return { path: '/', name: '', type: 'dir', size: this.volume.root.size, extents: [], ref: this.volume.root satisfies DirRef };
  }

  async list(dir: DiscEntry): Promise<DiscEntry[]> {
    const ref = dir.ref as DirRef;
    const bytes = await readDirectoryBytes(this.storage, ref.extent, ref.size, dir.path);
    const records = await parseRecords(this.storage, bytes, ref.extent, this.kind === 'joliet', this.susp, this.kind === 'rock-ridge');
    const entries: DiscEntry[] = [];
    const base = dir.path === '/' ? '' : dir.path;
    for (let i = 0; i < records.length; i++) {
      const first = records[i];
      if (first.name === '.' || first.name === '..') continue;
      // A file over 4 GiB is several records of one name, each flagged "multi-extent" but the last.
      const parts: RawRecord[] = [first];
      while (parts[parts.length - 1].multiExtent && i + 1 < records.length) parts.push(records[++i]);
      const rr = this.kind === 'rock-ridge' ? first.rr : undefined;
      if (rr?.relocated) continue; // listed where its CL placeholder stands
      const name = rr?.name ?? first.name;
      if (!name || name.includes('/') || name === '.' || name === '..') {
        throw new DiskImgError('invalid-format', `A directory record in ${dir.path} at byte ${first.at} has an invalid name '${name}'`, {
          file: this.storage.name,
          field: 'file identifier',
          offset: first.at,
        });
      }
      const entry: DiscEntry = {
        path: `${base}/${name}`,
        name,
        type: 'file',
        size: 0,
        extents: [],
        modified: rr?.modified ?? first.recorded,
        hidden: first.hidden || undefined,
      };
      if (rr) Object.assign(entry, { mode: rr.mode, uid: rr.uid, gid: rr.gid, nlink: rr.nlink });
      if (rr?.childLink !== undefined) {
        // The placeholder is a file record of no size; the directory's own attributes are in its "."
        // (as the Linux kernel and libcdio list it: size 2048, its own link count).
        const dot = await this.relocated(rr.childLink, entry.path);
        Object.assign(entry, { type: 'dir', size: dot.ref.size, ref: dot.ref });
        if (dot.rr)
          Object.assign(entry, {
            mode: dot.rr.mode ?? entry.mode,
            uid: dot.rr.uid ?? entry.uid,
            gid: dot.rr.gid ?? entry.gid,
            nlink: dot.rr.nlink ?? entry.nlink,
            modified: dot.rr.modified ?? entry.modified,
          });
      } else if (rr?.symlink !== undefined || isLinkMode(rr?.mode)) {
        Object.assign(entry, { type: 'symlink', target: rr?.symlink ?? '' });
      } else if (first.directory || isDirMode(rr?.mode)) {
        Object.assign(entry, { type: 'dir', size: first.size, ref: { extent: first.extent, size: first.size } satisfies DirRef });
      } else if (specialType(rr?.mode)) {
        // A device, FIFO or socket: no bytes of its own, whatever its record says; only a device has numbers.
        entry.type = specialType(rr?.mode)!;
        if (rr?.device && (entry.type === 'block' || entry.type === 'char')) entry.device = rr.device;
      } else {
        entry.extents = parts.map((p) => ({ offset: p.extent * SECTOR, length: p.size }));
        entry.size = parts.reduce((total, p) => total + p.size, 0);
        if (rr?.zisofs) {
          const z = rr.zisofs;
          entry.zisofs = {
            version: z.algorithm === 'PZ' ? 2 : 1,
            stored: entry.size,
            blockSize: 2 ** z.blockLog2,
            headerSize: z.headerSize,
            entry: z.entry,
          };
          entry.size = z.size;
        }
      }
      entries.push(entry);
    }
    return entries;
  }

  /** A Rock Ridge relocated directory: its size and attributes are in its own "." record. */
  private async relocated(extent: number, path: string): Promise<{ ref: DirRef; rr?: RawRecord['rr'] }> {
    const bytes = await readDirectoryBytes(this.storage, extent, SECTOR, path);
    const [dot] = await parseRecords(this.storage, bytes.subarray(0, Math.max(34, bytes[0])), extent, false, this.susp);
    return { ref: { extent, size: dot?.size ?? SECTOR }, rr: dot?.name === '.' ? dot.rr : undefined };
  }
}
