/**
 * The UDF file tree: the file set descriptor's root, file entries (FE and EFE, ICB strategy 4 and
 * indirect entries), file identifier descriptors, symlinks (ECMA-167 path components), as the
 * same DiscEntry model the ISO 9660 trees give.
 */
import { DiskImgError } from '../errors.ts';
import type { Storage } from '../storage/storage.ts';
import { MAX_DIRECTORY_BYTES } from './directory.ts';
import type { DiscEntry, DiscTree } from './types.ts';
import { allocation, checkInside, cs0, le16, le32, longAd, readFileData, TAG, tagId, udfTimestamp, type UdfVolume } from './udf-volume.ts';

interface IcbRef {
  partition: number;
  block: number;
}

/** Zeros a sparse UDF file may claim (unrecorded extents and length past its extents): 1 TiB. */
const MAX_SPARSE_BYTES = 2 ** 40;
const ICB_WINDOW = 64 << 10;
const ICB_WINDOWS = 8;
/** Indirect entries followed to reach one file entry. */
const MAX_INDIRECT = 16;
const FILE_TYPE = { DIRECTORY: 4, FILE: 5, SYMLINK: 12 } as const;

interface FileEntry {
  fe: Uint8Array;
  at: number;
  ref: IcbRef;
}

export class UdfTree implements DiscTree {
  readonly kind = 'udf' as const;
  private readonly windows = new Map<number, Uint8Array>();
  private constructor(
    private readonly storage: Storage,
    readonly volume: UdfVolume,
    private readonly rootEntry: DiscEntry,
    /** The file set descriptor's byte offset (for the disc picture). */
    readonly fileSetOffset: number,
    readonly fileSetId: string,
  ) {}

  static async open(storage: Storage, volume: UdfVolume): Promise<UdfTree> {
    const fsdAt = volume.offsetOf(volume.fileSet.partition, volume.fileSet.block);
    checkInside(storage, fsdAt, volume.blockSize, 'file set descriptor');
    const fsd = await storage.read(fsdAt, volume.blockSize);
    if (tagId(fsd) !== TAG.FSD) {
      throw new DiskImgError('invalid-format', `No UDF file set descriptor at byte ${fsdAt} (where the logical volume descriptor points)`, {
        file: storage.name,
        field: 'file set descriptor',
        offset: fsdAt,
      });
    }
    const root = longAd(fsd, 400);
    const ref = { partition: root.partition, block: root.block };
    const tree = new UdfTree(storage, volume, { path: '/', name: '', type: 'dir', size: 0, extents: [], ref }, fsdAt, dstring32(fsd, 304));
    const entry = await tree.fileEntry(ref, '/');
    if (entry.fe[16 + 11] !== FILE_TYPE.DIRECTORY) {
      throw new DiskImgError(
        'invalid-format',
        `The UDF root directory's file entry at byte ${entry.at} is not a directory (file type ${entry.fe[27]})`,
        { file: storage.name, field: 'file type', offset: entry.at + 27, value: entry.fe[27] },
      );
    }
    Object.assign(tree.rootEntry, attributes(entry.fe), { type: 'dir' });
    return tree;
  }

  root(): DiscEntry {
    return { ...this.rootEntry };
  }

  /** The file entry an ICB address names, through indirect entries. */
  private async fileEntry(ref: IcbRef, path: string): Promise<FileEntry> {
    let current = ref;
    for (let hops = 0; hops <= MAX_INDIRECT; hops++) {
      const at = this.volume.offsetOf(current.partition, current.block);
      checkInside(this.storage, at, this.volume.blockSize, `file entry of ${path}`);
      const fe = await this.icbBlock(at);
      const id = tagId(fe);
      if (id === TAG.FE || id === TAG.EFE) return { fe, at, ref: current };
      if (id === TAG.IE) {
        const next = longAd(fe, 36);
        current = { partition: next.partition, block: next.block };
        continue;
      }
      throw new DiskImgError(
        'invalid-format',
        `The UDF file entry of ${path} at byte ${at} has no valid descriptor tag${id === null ? '' : ` (tag ${id})`}`,
        { file: this.storage.name, field: 'descriptor tag', offset: at, value: id ?? 'none' },
      );
    }
    throw new DiskImgError('corrupt', `The UDF indirect entries for ${path} go on past ${MAX_INDIRECT}`, {
      file: this.storage.name,
      field: 'indirect entry',
    });
  }

  /**
   * One file entry's block, through a small cache of 64 KiB windows: writers put a folder's file
   * entries side by side, so listing 20 000 files costs ~600 reads instead of 20 000 (in a
   * browser each read is a Blob slice, ~0.1 ms).
   */
  private async icbBlock(at: number): Promise<Uint8Array> {
    const bs = this.volume.blockSize;
    const start = Math.floor(at / ICB_WINDOW) * ICB_WINDOW;
    let window = this.windows.get(start);
    if (window) {
      this.windows.delete(start); // most recently used last
    } else {
      window = await this.storage.read(start, Math.min(ICB_WINDOW, this.storage.size - start));
      if (this.windows.size >= ICB_WINDOWS) this.windows.delete(this.windows.keys().next().value!);
    }
    this.windows.set(start, window);
    // A copy: callers keep entries around, and must not pin a whole window each.
    return window.slice(at - start, at - start + bs);
  }

  /** A file's whole data, bounded (a directory's identifiers, a symlink's path). */
  private data(entry: FileEntry, path: string, limit: number): Promise<Uint8Array> {
    return readFileData(this.storage, this.volume, entry.fe, entry.ref.partition, limit, { name: path, offset: entry.at + 56 });
  }

  async list(dir: DiscEntry): Promise<DiscEntry[]> {
    const entry = await this.fileEntry(dir.ref as IcbRef, dir.path);
    if (entry.fe[27] !== FILE_TYPE.DIRECTORY)
      throw new DiskImgError('usage', `${dir.path} is not a directory`, { file: this.storage.name, field: 'path', value: dir.path });
    const bytes = await this.data(entry, dir.path, MAX_DIRECTORY_BYTES);
    const base = dir.path === '/' ? '' : dir.path;
    const out: DiscEntry[] = [];
    for (let at = 0; at + 38 <= bytes.length;) {
      if (tagId(bytes.subarray(at, at + 16)) !== TAG.FID) {
        // Trailing zeros end a directory; anything else is damage.
        if (bytes.subarray(at).every((x) => x === 0)) break;
        throw new DiskImgError(
          'invalid-format',
          `A UDF file identifier in ${dir.path} (byte ${at} of the directory) has no valid descriptor tag`,
          { file: this.storage.name, field: 'file identifier descriptor', offset: entry.at, value: at },
        );
      }
      const characteristics = bytes[at + 18];
      const nameLength = bytes[at + 19];
      const icb = longAd(bytes, at + 20);
      const impUse = le16(bytes, at + 36);
      const length = 4 * Math.ceil((38 + impUse + nameLength) / 4);
      if (at + 38 + impUse + nameLength > bytes.length) {
        throw new DiskImgError('invalid-format', `A UDF file identifier in ${dir.path} runs past the end of the directory`, {
          file: this.storage.name,
          field: 'length of file identifier',
          value: nameLength,
        });
      }
      const deleted = (characteristics & 0x04) !== 0;
      const parent = (characteristics & 0x08) !== 0;
      if (!deleted && !parent) {
        const name = cs0(bytes.subarray(at + 38 + impUse, at + 38 + impUse + nameLength));
        if (!name || name.includes('/') || name === '.' || name === '..') {
          throw new DiskImgError('invalid-format', `A UDF file identifier in ${dir.path} has an invalid name '${name}'`, {
            file: this.storage.name,
            field: 'file identifier',
            value: name,
          });
        }
        out.push(await this.child(`${base}/${name}`, name, { partition: icb.partition, block: icb.block }, (characteristics & 0x01) !== 0));
      }
      at += length;
    }
    return out;
  }

  private async child(path: string, name: string, ref: IcbRef, hidden: boolean): Promise<DiscEntry> {
    const entry = await this.fileEntry(ref, path);
    const fileType = entry.fe[27];
    const base: DiscEntry = { path, name, type: 'file', size: 0, extents: [], ...attributes(entry.fe), ...(hidden ? { hidden } : {}) };
    if (fileType === FILE_TYPE.DIRECTORY) return { ...base, type: 'dir', ref };
    if (fileType === FILE_TYPE.SYMLINK) {
      return { ...base, type: 'symlink', target: symlinkTarget(await this.data(entry, path, 64 << 10)) };
    }
    const { size, inline, extents } = allocation(this.storage, this.volume, entry.fe, entry.ref.partition);
    if (inline) return { ...base, size, inline: inline.slice(0, size) };
    // The extents' sum may exceed the size (the last block's tail): trim to the file's length.
    const trimmed = [];
    let left = size;
    let zeros = 0;
    for (const e of await extents) {
      if (left <= 0) break;
      const length = Math.min(e.length, left);
      trimmed.push({ offset: e.offset, length });
      if (e.offset < 0) zeros += length;
      left -= e.length;
    }
    if (left > 0) {
      trimmed.push({ offset: -1, length: left });
      zeros += left;
    }
    // Unrecorded (sparse) parts read as zeros; a claim of more than a terabyte of them is a hostile size.
    if (zeros > MAX_SPARSE_BYTES) {
      throw new DiskImgError(
        'limit',
        `${path} claims ${size} bytes, ${zeros} of them unrecorded: more than the ${MAX_SPARSE_BYTES} bytes of zeros accepted`,
        { file: this.storage.name, field: 'information length', offset: entry.at + 56, value: size },
      );
    }
    return { ...base, size, extents: trimmed };
  }
}

function dstring32(b: Uint8Array, at: number): string {
  const used = b[at + 31];
  return used > 0 && used < 32 ? cs0(b.subarray(at, at + used)) : '';
}

/** Unix mode, owner, links and modification time from a file entry (FE or EFE). */
function attributes(fe: Uint8Array): Pick<DiscEntry, 'mode' | 'uid' | 'gid' | 'nlink' | 'modified'> {
  const extended = le16(fe, 0) === TAG.EFE;
  const p = le32(fe, 44);
  const kind = fe[27] === FILE_TYPE.DIRECTORY ? 0o040000 : fe[27] === FILE_TYPE.SYMLINK ? 0o120000 : 0o100000;
  const mode = kind | (((p >> 10) & 7) << 6) | (((p >> 5) & 7) << 3) | (p & 7);
  const uid = le32(fe, 36);
  const gid = le32(fe, 40);
  return {
    mode,
    // 0xFFFFFFFF: "not known"; leave it unset.
    ...(uid !== 0xffffffff ? { uid } : {}),
    ...(gid !== 0xffffffff ? { gid } : {}),
    nlink: le16(fe, 48),
    modified: udfTimestamp(fe, extended ? 92 : 84),
  };
}

/** ECMA-167 4/14.16 path components: 1/2 root, 3 parent, 4 current, 5 a name. */
export function symlinkTarget(b: Uint8Array): string {
  const parts: string[] = [];
  let absolute = false;
  for (let at = 0; at + 4 <= b.length;) {
    const type = b[at];
    const length = b[at + 1];
    const name = cs0(b.subarray(at + 4, at + 4 + length));
    if (type === 1 || type === 2) {
      absolute = true;
      parts.length = 0;
    } else if (type === 3) parts.push('..');
    else if (type === 4) parts.push('.');
    else if (type === 5) parts.push(name);
    at += 4 + length;
  }
  return (absolute ? '/' : '') + parts.join('/');
}
