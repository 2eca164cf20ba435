/**
 * Btrfs on one device, browsed read-only (btrfs-progs' on-disk format documentation): the
 * superblock's system chunks bootstrap the chunk tree, which maps logical addresses to the device;
 * the root tree names the default file tree (5), whose DIR_INDEX, INODE_ITEM and EXTENT_DATA items
 * give folders, metadata and bytes (inline, regular, preallocated and hole extents). Every tree
 * block's and the superblock's CRC-32C is checked. Compressed extents (zlib, lzo, zstd) are
 * decompressed one extent (at most 128 KiB) at a time.
 */
import { Inflater } from '../codecs/inflate.ts';
import { lzo1xDecompress, LzoError } from '../codecs/lzo1x.ts';
import { zstdDecodeFrames } from '../codecs/zstd-frames.ts';
import { DiskImgError } from '../errors.ts';
import { crc32cUpdate } from '../formats/vhdx/crc32c.ts';
import { le16, le32, le64 } from '../partitions/bytes.ts';
import type { ByteSource } from '../partitions/source.ts';
import { childPath, MAX_DIR_ENTRIES, READ_CHUNK, readChecked, type FsEntry, type FsEntryType, type FsReader } from './tree.ts';

const SUPER_OFFSET = 0x10000;
const HEADER = 101;
const ITEM = 25;
const KEY_PTR = 33;
const INODE_ITEM = 1;
const DIR_INDEX = 96;
const EXTENT_DATA = 108;
const ROOT_ITEM = 132;
const CHUNK_ITEM = 228;
const FS_TREE = 5;
const MAX_LEVEL = 8;
const NODES_KEPT = 64;
/** Btrfs compresses data in extents of at most 128 KiB (BTRFS_MAX_UNCOMPRESSED), and lzo in 4 KiB segments. */
const MAX_COMPRESSED_EXTENT = 128 * 1024;
const SECTOR = 4096;

const TYPES: Record<number, FsEntryType> = {
  0x1: 'fifo',
  0x2: 'char',
  0x4: 'dir',
  0x6: 'block',
  0x8: 'file',
  0xa: 'symlink',
  0xc: 'socket',
};

interface Key {
  objectid: number;
  type: number;
  offset: number;
}

interface Chunk {
  logical: number;
  length: number;
  physical: number;
}

interface BtrfsRef {
  id: string;
  ino: number;
}

const compareKeys = (a: Key, b: Key) => a.objectid - b.objectid || a.type - b.type || a.offset - b.offset;
const readKey = (b: Uint8Array, at: number): Key => ({ objectid: le64(b, at), type: b[at + 8], offset: le64(b, at + 9) });

/** In a node of `count` children, the first that can hold `key`: the last whose first key is not above it (found by halving). */
function firstChild(b: Uint8Array, count: number, key: Key): number {
  let first = 0;
  for (let lo = 1, hi = count - 1; lo <= hi;) {
    const mid = (lo + hi) >> 1;
    if (compareKeys(readKey(b, HEADER + mid * KEY_PTR), key) <= 0) {
      first = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return first;
}

/** Standard CRC-32C of `bytes` from byte 32 (after the checksum field), stored little-endian at 0. */
const crcValid = (bytes: Uint8Array) => (crc32cUpdate(0xffffffff, bytes.subarray(32)) ^ 0xffffffff) >>> 0 === le32(bytes, 0);

export class BtrfsReader implements FsReader {
  readonly warnings: string[] = [];
  readonly type = 'btrfs';
  private chunks: Chunk[] = [];
  private fsRoot = 0;
  private fsLevel = 0;
  private readonly nodes = new Map<number, Uint8Array>();

  private constructor(
    private readonly source: ByteSource,
    private readonly nodeSize: number,
  ) {}

  static async open(source: ByteSource): Promise<BtrfsReader> {
    const sb = await readChecked(source, SUPER_OFFSET, 4096, 'The Btrfs superblock');
    if (String.fromCharCode(...sb.subarray(0x40, 0x48)) !== '_BHRfS_M')
      throw new DiskImgError('invalid-format', 'Not a Btrfs file system: no _BHRfS_M at byte 65600', {
        field: 'magic',
        offset: SUPER_OFFSET + 0x40,
      });
    if (le16(sb, 0xc4) !== 0)
      throw new DiskImgError('unsupported', `This Btrfs uses checksum type ${le16(sb, 0xc4)}; only CRC-32C is read`, {
        field: 'csum_type',
        value: le16(sb, 0xc4),
      });
    if (!crcValid(sb))
      throw new DiskImgError('corrupt', "The Btrfs superblock's checksum does not match its bytes: the superblock is damaged", {
        field: 'checksum',
        offset: SUPER_OFFSET,
      });
    const nodeSize = le32(sb, 0x94);
    if (nodeSize < 4096 || nodeSize > 65536 || (nodeSize & (nodeSize - 1)) !== 0)
      throw new DiskImgError('corrupt', `The Btrfs node size ${nodeSize} is not a power of two from 4096 to 65536`, {
        field: 'nodesize',
        offset: SUPER_OFFSET + 0x94,
        value: nodeSize,
      });
    if (le64(sb, 0x88) !== 1)
      throw new DiskImgError('unsupported', `This Btrfs spans ${le64(sb, 0x88)} devices; only single-device file systems are read`, {
        field: 'num_devices',
        value: le64(sb, 0x88),
      });
    const reader = new BtrfsReader(source, nodeSize);
    // The system chunks in the superblock map the chunk tree, which maps everything else.
    const arraySize = le32(sb, 0xa0);
    if (arraySize > 2048)
      throw new DiskImgError('corrupt', `The Btrfs system chunk array claims ${arraySize} bytes (at most 2048)`, {
        field: 'sys_chunk_array_size',
        value: arraySize,
      });
    const array = sb.subarray(0x32b, 0x32b + arraySize);
    for (let at = 0; at + 17 + 48 <= array.length;) {
      const key = readKey(array, at);
      const stripes = le16(array, at + 17 + 44);
      if (key.type !== CHUNK_ITEM || stripes === 0)
        throw new DiskImgError('corrupt', 'The Btrfs system chunk array is damaged', { field: 'sys_chunk_array', value: at });
      reader.chunks.push({ logical: key.offset, length: le64(array, at + 17), physical: le64(array, at + 17 + 48 + 8) });
      at += 17 + 48 + stripes * 32;
    }
    for await (const { key, data } of reader.items(
      le64(sb, 0x58),
      sb[0xc7],
      { objectid: 0, type: 0, offset: 0 },
      { objectid: Number.MAX_SAFE_INTEGER, type: 255, offset: Number.MAX_SAFE_INTEGER },
      'the chunk tree',
    )) {
      if (key.type !== CHUNK_ITEM || data.length < 48 + 32) continue;
      if (!reader.chunks.some((c) => c.logical === key.offset))
        reader.chunks.push({ logical: key.offset, length: le64(data, 0), physical: le64(data, 48 + 8) });
    }
    const fsKey = { objectid: FS_TREE, type: ROOT_ITEM, offset: 0 };
    for await (const { data } of reader.items(
      le64(sb, 0x50),
      sb[0xc6],
      fsKey,
      { ...fsKey, offset: Number.MAX_SAFE_INTEGER },
      'the root tree',
    )) {
      if (data.length < 239) continue;
      reader.fsRoot = le64(data, 176);
      reader.fsLevel = data[238];
    }
    if (!reader.fsRoot) throw new DiskImgError('corrupt', 'The Btrfs root tree has no file tree (objectid 5)', { field: 'root tree' });
    return reader;
  }

  private physical(logical: number, length: number, what: string): number {
    for (const c of this.chunks) {
      if (logical >= c.logical && logical + length <= c.logical + c.length) return c.physical + (logical - c.logical);
    }
    throw new DiskImgError('corrupt', `${what} lies at logical address ${logical}, which no chunk maps`, {
      field: 'logical address',
      value: logical,
    });
  }

  private async node(logical: number, level: number, what: string): Promise<Uint8Array> {
    let b = this.nodes.get(logical);
    if (b) {
      // Least recently used goes first: the root and upper nodes, used by every lookup, stay.
      this.nodes.delete(logical);
      this.nodes.set(logical, b);
    } else {
      b = await readChecked(this.source, this.physical(logical, this.nodeSize, what), this.nodeSize, what);
      if (!crcValid(b))
        throw new DiskImgError('corrupt', `The tree block at ${logical} (${what}) fails its checksum`, {
          field: 'tree block checksum',
          value: logical,
        });
      if (le64(b, 48) !== logical)
        throw new DiskImgError('corrupt', `The tree block at ${logical} (${what}) says it is at ${le64(b, 48)}`, {
          field: 'bytenr',
          value: logical,
        });
      if (this.nodes.size >= NODES_KEPT) this.nodes.delete(this.nodes.keys().next().value!);
      this.nodes.set(logical, b);
    }
    if (b[100] !== level)
      throw new DiskImgError('corrupt', `The tree block at ${logical} (${what}) is at level ${b[100]}, expected ${level}`, {
        field: 'level',
        value: b[100],
      });
    return b;
  }

  /** Items with keys from `min` to `max`, in order; a child is followed only when its range can hold some. */
  private async *items(root: number, level: number, min: Key, max: Key, what: string): AsyncGenerator<{ key: Key; data: Uint8Array }> {
    if (level > MAX_LEVEL) throw new DiskImgError('corrupt', `${what} is ${level} levels deep`, { field: 'level', value: level });
    const b = await this.node(root, level, what);
    const count = le32(b, 96);
    if (level === 0) {
      if (HEADER + count * ITEM > b.length)
        throw new DiskImgError('corrupt', `The leaf at ${root} (${what}) claims ${count} items`, { field: 'nritems', value: count });
      // Keys are sorted: the first one not below `min` is found by halving (a folder of 100 000 names looks up as many inodes).
      let first = 0;
      for (let hi = count; first < hi;) {
        const mid = (first + hi) >> 1;
        if (compareKeys(readKey(b, HEADER + mid * ITEM), min) < 0) first = mid + 1;
        else hi = mid;
      }
      for (let i = first; i < count; i++) {
        const key = readKey(b, HEADER + i * ITEM);
        if (compareKeys(key, min) < 0) continue;
        if (compareKeys(key, max) > 0) return;
        const offset = HEADER + le32(b, HEADER + i * ITEM + 17);
        const size = le32(b, HEADER + i * ITEM + 21);
        if (offset + size > b.length)
          throw new DiskImgError('corrupt', `An item of the leaf at ${root} (${what}) runs past the block`, { field: 'item', value: i });
        yield { key, data: b.subarray(offset, offset + size) };
      }
      return;
    }
    if (HEADER + count * KEY_PTR > b.length)
      throw new DiskImgError('corrupt', `The node at ${root} (${what}) claims ${count} children`, { field: 'nritems', value: count });
    for (let i = firstChild(b, count, min); i < count; i++) {
      const next = i + 1 < count ? readKey(b, HEADER + (i + 1) * KEY_PTR) : null;
      if (next && compareKeys(next, min) <= 0) continue;
      if (compareKeys(readKey(b, HEADER + i * KEY_PTR), max) > 0) return;
      yield* this.items(le64(b, HEADER + i * KEY_PTR + 17), level - 1, min, max, what);
    }
  }

  private async *fsItems(objectid: number, type: number, from = 0): AsyncGenerator<{ key: Key; data: Uint8Array }> {
    yield* this.items(
      this.fsRoot,
      this.fsLevel,
      { objectid, type, offset: from },
      { objectid, type, offset: Number.MAX_SAFE_INTEGER },
      'the file tree',
    );
  }

  /**
   * The leaf of the file tree whose range holds `ino`'s INODE_ITEM, found through the nodes above
   * it alone (the leaf not read). Only an order for lookups: inode() reads, checks and reports.
   */
  private async leafOfInode(ino: number): Promise<number> {
    const key = { objectid: ino, type: INODE_ITEM, offset: 0 };
    let at = this.fsRoot;
    for (let level = this.fsLevel; level > 0 && level <= MAX_LEVEL; level--) {
      const b = await this.node(at, level, 'the file tree');
      const count = le32(b, 96);
      if (count === 0 || HEADER + count * KEY_PTR > b.length) return at;
      at = le64(b, HEADER + firstChild(b, count, key) * KEY_PTR + 17);
    }
    return at;
  }

  private async inode(ino: number): Promise<Uint8Array> {
    for await (const { data } of this.fsItems(ino, INODE_ITEM)) if (data.length >= 160) return data;
    throw new DiskImgError('corrupt', `Inode ${ino} has no INODE_ITEM in the file tree`, { field: 'inode', value: ino });
  }

  root(): FsEntry {
    return { path: '/', name: '', type: 'dir', size: 0, mode: 0o755, ref: { id: 'inode 256', ino: 256 } as BtrfsRef };
  }

  async list(dir: FsEntry): Promise<FsEntry[]> {
    const ino = (dir.ref as BtrfsRef).ino;
    const decoder = new TextDecoder();
    const names: Array<{ name: string; objectid: number }> = [];
    for await (const { data } of this.fsItems(ino, DIR_INDEX)) {
      const location = readKey(data, 0);
      const nameLength = le16(data, 27);
      const name = decoder.decode(data.subarray(30, 30 + nameLength));
      if (location.type !== INODE_ITEM) continue; // a subvolume or snapshot: another tree, not followed
      if (names.length >= MAX_DIR_ENTRIES)
        throw new DiskImgError('limit', `${dir.path} has more than ${MAX_DIR_ENTRIES} entries`, { field: 'directory', value: dir.path });
      names.push({ name, objectid: location.objectid });
    }
    // Inodes looked up leaf by leaf, the leaves in the order of their addresses, not in the folder's
    // order: each leaf is then read once, not once per name (a folder of 100 000 names otherwise
    // reads a leaf for nearly every one), and the image front to back; in the page a read brings
    // 4 MiB of it (CachedStorage), and a folder's leaves lie scattered over the metadata.
    const leaves = new Map<number, number>();
    for (const { objectid } of names) leaves.set(objectid, await this.leafOfInode(objectid));
    const order = names
      .map((_, i) => i)
      .sort((a, b) => leaves.get(names[a].objectid)! - leaves.get(names[b].objectid)! || names[a].objectid - names[b].objectid);
    const out: FsEntry[] = new Array(names.length);
    for (const i of order) {
      const { name, objectid } = names[i];
      const item = await this.inode(objectid);
      const mode = le32(item, 52);
      const type = TYPES[mode >> 12];
      if (!type)
        throw new DiskImgError('corrupt', `Inode ${objectid} (${childPath(dir, name)}) has an unknown file type`, {
          field: 'mode',
          value: objectid,
        });
      const entry: FsEntry = {
        path: childPath(dir, name),
        name,
        type,
        size: type === 'dir' ? 0 : le64(item, 16),
        mode: mode & 0o7777,
        uid: le32(item, 44),
        gid: le32(item, 48),
        nlink: le32(item, 40),
        mtime: new Date(le64(item, 136) * 1000).toISOString().replace('.000Z', 'Z'),
        ref: { id: `inode ${objectid}`, ino: objectid } as BtrfsRef,
      };
      if (type === 'symlink') {
        const parts: Uint8Array[] = [];
        for await (const chunk of this.data(objectid, 0, Math.min(entry.size, 4096), entry.path)) parts.push(chunk);
        const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        parts.reduce((at, p) => (bytes.set(p, at), at + p.length), 0);
        entry.target = decoder.decode(bytes);
      }
      if (type === 'block' || type === 'char') {
        const dev = le64(item, 56);
        entry.device = { major: Math.floor(dev / 2 ** 20), minor: dev % 2 ** 20 };
      }
      out[i] = entry;
    }
    return out;
  }

  /** Bytes of an inode's data from its EXTENT_DATA items, holes (and missing items) as zeros. */
  private async *data(ino: number, start: number, length: number, what: string): AsyncGenerator<Uint8Array> {
    const end = start + length;
    let at = start;
    const zeros = function* (to: number) {
      while (at < to) {
        const size = Math.min(READ_CHUNK, to - at);
        at += size;
        yield new Uint8Array(size);
      }
    };
    for await (const { key, data } of this.fsItems(ino, EXTENT_DATA)) {
      const type = data[20];
      const extentStart = key.offset;
      const extentLength = type === 0 ? le64(data, 8) : le64(data, 45);
      const extentEnd = extentStart + extentLength;
      if (extentEnd <= at) continue;
      if (extentStart >= end) break;
      yield* zeros(Math.min(extentStart, end));
      const stop = Math.min(extentEnd, end);
      if (data[16] !== 0 && type !== 2) {
        const plain = await this.decompressed(data, what);
        const from = type === 0 ? 0 : le64(data, 37);
        if (from + (stop - extentStart) > plain.length)
          throw new DiskImgError(
            'corrupt',
            `A compressed extent of ${what} decompresses to ${plain.length} bytes, fewer than it says it holds`,
            {
              field: 'compression',
              value: extentStart,
            },
          );
        yield plain.slice(from + at - extentStart, from + stop - extentStart);
        at = stop;
        continue;
      }
      if (type === 0) {
        const inline = data.subarray(21);
        if (stop - extentStart > inline.length)
          throw new DiskImgError('corrupt', `The inline data of ${what} is shorter than it says`, { field: 'inline extent', value: ino });
        yield inline.slice(at - extentStart, stop - extentStart);
        at = stop;
        continue;
      }
      const disk = le64(data, 21);
      const offset = le64(data, 37);
      while (at < stop) {
        const size = Math.min(READ_CHUNK, stop - at);
        if (disk === 0 || type === 2) yield new Uint8Array(size);
        else {
          const logical = disk + offset + (at - extentStart);
          yield await readChecked(this.source, this.physical(logical, size, `The data of ${what}`), size, `The data of ${what}`);
        }
        at += size;
      }
    }
    yield* zeros(end);
  }

  /**
   * A compressed extent's bytes (inline, or regular: read whole from disk), decompressed: zlib
   * streams, zstd frames, or Btrfs' lzo layout (a total length, then per-4 KiB-sector segments
   * of LZO1X, each with its length; a segment's header never straddles a sector).
   */
  private async decompressed(data: Uint8Array, what: string): Promise<Uint8Array> {
    const method = data[16];
    const ram = le64(data, 8);
    const name = ['none', 'zlib', 'lzo', 'zstd'][method] ?? `type ${method}`;
    if (method > 3)
      throw new DiskImgError('unsupported', `${what} is stored compressed with ${name}, which Btrfs does not define`, {
        field: 'compression',
        value: method,
      });
    if (ram > MAX_COMPRESSED_EXTENT || ram === 0)
      throw new DiskImgError(
        'corrupt',
        `A compressed extent of ${what} says it holds ${ram} bytes; Btrfs compresses at most ${MAX_COMPRESSED_EXTENT} per extent`,
        {
          field: 'ram_bytes',
          value: ram,
        },
      );
    let input: Uint8Array;
    if (data[20] === 0) input = data.subarray(21);
    else {
      const disk = le64(data, 21);
      const size = le64(data, 29);
      if (size > MAX_COMPRESSED_EXTENT || size === 0)
        throw new DiskImgError(
          'corrupt',
          `A compressed extent of ${what} takes ${size} bytes on disk; Btrfs compresses at most ${MAX_COMPRESSED_EXTENT} per extent`,
          {
            field: 'disk_num_bytes',
            value: size,
          },
        );
      input = await readChecked(this.source, this.physical(disk, size, `The data of ${what}`), size, `The data of ${what}`);
    }
    const out = new Uint8Array(ram);
    const broken = (detail: string) =>
      new DiskImgError('corrupt', `A ${name}-compressed extent of ${what} does not decompress: ${detail}`, {
        field: 'compression',
        value: method,
      });
    if (method === 1) {
      const { produced, broken: bad } = new Inflater(15).run(input, out);
      if (bad) throw broken('the zlib stream is damaged');
      return out.subarray(0, produced);
    }
    if (method === 3) {
      // The kernel compresses the file's bytes, not the sector's tail: the frame may end short of
      // ram_bytes (the rest reads as zeros, as zlib's stream does); after it, only zero padding.
      const decoded = zstdDecodeFrames(input, out);
      if (!decoded) throw broken('the zstd frames are damaged or would overflow the extent');
      if (decoded.written === 0) throw broken('it does not begin with a zstd frame');
      if (input.subarray(decoded.read).some((b) => b !== 0)) throw broken(`bytes follow the zstd frames at byte ${decoded.read}`);
      return out.subarray(0, decoded.written);
    }
    // lzo: LE32 total length, then segments of LE32 length + LZO1X data.
    if (input.length < 4) throw broken('it is shorter than its header');
    const total = le32(input, 0);
    if (total > input.length || total < 4) throw broken(`its header says ${total} bytes, but ${input.length} are stored`);
    let at = 4;
    let produced = 0;
    while (at < total && produced < ram) {
      if (SECTOR - (at % SECTOR) < 4) at += SECTOR - (at % SECTOR); // the header would straddle a sector: padding
      if (at + 4 > total) break;
      const length = le32(input, at);
      at += 4;
      if (length > total - at) throw broken(`a segment of ${length} bytes at byte ${at - 4} runs past the end`);
      try {
        produced += lzo1xDecompress(input.subarray(at, at + length), out.subarray(produced, Math.min(ram, produced + SECTOR)));
      } catch (error) {
        if (error instanceof LzoError) throw broken(error.message);
        throw error;
      }
      at += length;
    }
    return out.subarray(0, produced);
  }

  async *read(file: FsEntry, start: number, length: number): AsyncGenerator<Uint8Array> {
    yield* this.data((file.ref as BtrfsRef).ino, start, length, file.path);
  }
}
