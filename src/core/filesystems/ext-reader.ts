/**
 * ext2/3/4 browsed read-only (the kernel's Documentation/filesystems/ext4 layout): block maps and
 * extent trees, htree directories read as linear ones (their index blocks look like empty
 * entries), inline data, fast and slow symlinks, 64-bit and flex_bg. With metadata_csum the
 * superblock, group descriptors, inodes, extent blocks and directory leaves are checked. A journal
 * that needs recovery is not replayed: the file system is read as it stands, with a warning.
 */
import { DiskImgError } from '../errors.ts';
import { crc32cUpdate } from '../formats/vhdx/crc32c.ts';
import { le16, le32 } from '../partitions/bytes.ts';
import type { ByteSource } from '../partitions/source.ts';
import { probeExt } from './ext.ts';
import { childPath, MAX_DIR_ENTRIES, READ_CHUNK, readChecked, type FsEntry, type FsEntryType, type FsReader } from './tree.ts';

const INCOMPAT_COMPRESSION = 0x1;
const INCOMPAT_RECOVER = 0x4;
const INCOMPAT_JOURNAL_DEV = 0x8;
const INCOMPAT_META_BG = 0x10;
const INCOMPAT_64BIT = 0x80;
const INCOMPAT_DIRDATA = 0x1000;
const INCOMPAT_CSUM_SEED = 0x2000;
const INCOMPAT_ENCRYPT = 0x10000;
const RO_COMPAT_METADATA_CSUM = 0x400;
const INODE_EXTENTS = 0x80000;
const INODE_INLINE_DATA = 0x10000000;
const INODE_ENCRYPT = 0x800;
const EXTENT_MAGIC = 0xf30a;
/** Directories larger than this are refused (a real one with 2 million entries is ~100 MiB). */
const MAX_DIR_BYTES = 256 << 20;
const BLOCKS_KEPT = 64;

interface ExtRef {
  id: string;
  ino: number;
}

/** One stretch of a file: `count` blocks from logical block `logical`; physical -1 reads as zeros. */
interface Run {
  logical: number;
  physical: number;
  count: number;
}

interface Inode {
  ino: number;
  raw: Uint8Array;
  mode: number;
  size: number;
  flags: number;
  /** The checksum seed of the blocks this inode owns (metadata_csum). */
  seed: number;
}

const TYPES: Record<number, FsEntryType> = {
  0x1: 'fifo',
  0x2: 'char',
  0x4: 'dir',
  0x6: 'block',
  0x8: 'file',
  0xa: 'symlink',
  0xc: 'socket',
};
const u32le = (n: number) => new Uint8Array([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff]);

/** The CRC-32C of `bytes` with `length` bytes at `hole` read as zero (a record's own checksum field). */
function crcWithHole(seed: number, bytes: Uint8Array, hole: number, length: number): number {
  let crc = crc32cUpdate(seed, bytes.subarray(0, hole));
  crc = crc32cUpdate(crc, new Uint8Array(length));
  return crc32cUpdate(crc, bytes.subarray(hole + length));
}

export class ExtReader implements FsReader {
  readonly warnings: string[] = [];
  readonly type: string;
  private readonly blockSize: number;
  private readonly blocks: number;
  private readonly inodesPerGroup: number;
  private readonly inodeSize: number;
  private readonly inodeCount: number;
  private readonly descSize: number;
  private readonly groups: number;
  private readonly firstDataBlock: number;
  private readonly csum: boolean;
  private readonly seed: number;
  private readonly cache = new Map<number, Uint8Array>();
  private readonly tables = new Map<number, number>();

  private constructor(
    private readonly source: ByteSource,
    sb: Uint8Array,
    type: string,
  ) {
    this.type = type;
    const incompat = le32(sb, 96);
    this.blockSize = 1024 << le32(sb, 24);
    this.blocks = le32(sb, 4) + (incompat & INCOMPAT_64BIT ? le32(sb, 0x150) * 0x1_0000_0000 : 0);
    this.inodesPerGroup = le32(sb, 40);
    this.inodeCount = le32(sb, 0);
    this.inodeSize = le32(sb, 76) === 0 ? 128 : le16(sb, 88);
    this.descSize = incompat & INCOMPAT_64BIT ? le16(sb, 0xfe) : 32;
    this.firstDataBlock = le32(sb, 20);
    const perGroup = le32(sb, 32);
    this.groups = Math.ceil((this.blocks - this.firstDataBlock) / perGroup);
    this.csum = (le32(sb, 100) & RO_COMPAT_METADATA_CSUM) !== 0;
    this.seed = incompat & INCOMPAT_CSUM_SEED ? le32(sb, 0x270) : crc32cUpdate(0xffffffff, sb.subarray(104, 120));
    if (incompat & INCOMPAT_RECOVER)
      this.warnings.push(
        'The journal needs recovery (the file system was not cleanly unmounted): it is read as it stands, without replaying the journal, so recent changes may be missing',
      );
  }

  static async open(source: ByteSource): Promise<ExtReader> {
    const sb = await readChecked(source, 1024, 1024, 'The ext superblock');
    const bad = (field: string, offset: number, value: number, why: string): never => {
      throw new DiskImgError('corrupt', `The ext superblock's ${field} (${value}) ${why}`, { field, offset: 1024 + offset, value });
    };
    if (le16(sb, 56) !== 0xef53)
      throw new DiskImgError('invalid-format', 'Not an ext2/3/4 file system: no superblock magic 0xEF53 at byte 1080', {
        field: 'magic',
        offset: 1080,
      });
    const logBlock = le32(sb, 24);
    if (logBlock > 6) bad('block size', 24, logBlock, 'is beyond 64 KiB');
    const incompat = le32(sb, 96);
    const roCompat = le32(sb, 100);
    if (roCompat & RO_COMPAT_METADATA_CSUM) {
      const stored = le32(sb, 0x3fc);
      const computed = crc32cUpdate(0xffffffff, sb.subarray(0, 0x3fc)) >>> 0;
      if (stored !== computed)
        throw new DiskImgError(
          'corrupt',
          `The ext superblock's checksum is 0x${stored.toString(16)}, but its bytes sum to 0x${computed.toString(16)}: the superblock is damaged`,
          { field: 'checksum', offset: 1024 + 0x3fc, value: stored },
        );
    }
    for (const [flag, name] of [
      [INCOMPAT_COMPRESSION, 'compression'],
      [INCOMPAT_JOURNAL_DEV, 'an external journal device'],
      [INCOMPAT_META_BG, 'meta_bg'],
      [INCOMPAT_DIRDATA, 'dirdata'],
      [INCOMPAT_ENCRYPT, 'encryption'],
    ] as const) {
      if (incompat & flag)
        throw new DiskImgError('unsupported', `This ext file system uses ${name}, which cannot be browsed (yet)`, {
          field: 'incompatible features',
          offset: 1024 + 96,
          value: incompat,
        });
    }
    const blockSize = 1024 << logBlock;
    const inodesPerGroup = le32(sb, 40);
    const blocksPerGroup = le32(sb, 32);
    if (inodesPerGroup === 0 || inodesPerGroup > blockSize * 8)
      bad('inodes per group', 40, inodesPerGroup, `is not within 1–${blockSize * 8}`);
    if (blocksPerGroup === 0 || blocksPerGroup > blockSize * 8)
      bad('blocks per group', 32, blocksPerGroup, `is not within 1–${blockSize * 8}`);
    const inodeSize = le32(sb, 76) === 0 ? 128 : le16(sb, 88);
    if (inodeSize < 128 || inodeSize > blockSize || (inodeSize & (inodeSize - 1)) !== 0)
      bad('inode size', 88, inodeSize, `is not a power of two from 128 to the block size ${blockSize}`);
    if (incompat & INCOMPAT_64BIT) {
      const descSize = le16(sb, 0xfe);
      if (descSize < 64 || descSize > 1024 || (descSize & (descSize - 1)) !== 0)
        bad('group descriptor size', 0xfe, descSize, 'is not a power of two from 64 to 1024');
    }
    const blocks = le32(sb, 4) + (incompat & INCOMPAT_64BIT ? le32(sb, 0x150) * 0x1_0000_0000 : 0);
    const firstDataBlock = le32(sb, 20);
    if (blocks <= firstDataBlock) bad('block count', 4, blocks, 'leaves no blocks');
    if (blocks * blockSize > source.size)
      throw new DiskImgError(
        'corrupt',
        `The ext superblock says the file system has ${blocks * blockSize} bytes, but its partition has only ${source.size}`,
        { field: 'block count', offset: 1028, value: blocks },
      );
    const info = await probeExt(source);
    return new ExtReader(source, sb, info?.type ?? 'ext4');
  }

  root(): FsEntry {
    return { path: '/', name: '', type: 'dir', size: 0, mode: 0o755, ref: { id: 'inode 2', ino: 2 } as ExtRef };
  }

  /** A metadata block, through a small cache (inode tables are read a block at a time). */
  private async block(n: number, what: string): Promise<Uint8Array> {
    if (!Number.isSafeInteger(n) || n >= this.blocks)
      throw new DiskImgError('corrupt', `${what} points to block ${n}, beyond the end of the file system (${this.blocks} blocks)`, {
        field: 'block',
        value: n,
      });
    const hit = this.cache.get(n);
    if (hit) return hit;
    const bytes = await readChecked(this.source, n * this.blockSize, this.blockSize, what);
    if (this.cache.size >= BLOCKS_KEPT) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(n, bytes);
    return bytes;
  }

  /** Where group `g`'s inode table starts, from its descriptor (checked with metadata_csum). */
  private async inodeTable(g: number): Promise<number> {
    const known = this.tables.get(g);
    if (known !== undefined) return known;
    const gdt = this.firstDataBlock + 1;
    const perBlock = this.blockSize / this.descSize;
    const block = await this.block(gdt + Math.floor(g / perBlock), `The descriptor of block group ${g}`);
    const at = (g % perBlock) * this.descSize;
    const desc = block.subarray(at, at + this.descSize);
    if (this.csum) {
      const stored = le16(desc, 0x1e);
      const computed = crcWithHole(crc32cUpdate(this.seed, u32le(g)), desc, 0x1e, 2) & 0xffff;
      if (stored !== computed)
        throw new DiskImgError(
          'corrupt',
          `The descriptor of block group ${g} has checksum 0x${stored.toString(16)}, but its bytes sum to 0x${computed.toString(16)}`,
          { field: 'group descriptor checksum', offset: gdt * this.blockSize + at, value: stored },
        );
    }
    const table = le32(desc, 8) + (this.descSize >= 64 ? le32(desc, 0x28) * 0x1_0000_0000 : 0);
    this.tables.set(g, table);
    return table;
  }

  private async inode(ino: number): Promise<Inode> {
    if (ino < 1 || ino > this.inodeCount)
      throw new DiskImgError('corrupt', `Inode ${ino} is outside 1–${this.inodeCount}`, { field: 'inode', value: ino });
    const g = Math.floor((ino - 1) / this.inodesPerGroup);
    if (g >= this.groups)
      throw new DiskImgError('corrupt', `Inode ${ino} is in block group ${g}, but there are ${this.groups}`, {
        field: 'inode',
        value: ino,
      });
    const index = (ino - 1) % this.inodesPerGroup;
    const byteInTable = index * this.inodeSize;
    const block = await this.block(
      (await this.inodeTable(g)) + Math.floor(byteInTable / this.blockSize),
      `The inode table of block group ${g}`,
    );
    const raw = block.subarray(byteInTable % this.blockSize, (byteInTable % this.blockSize) + this.inodeSize);
    const extra = this.inodeSize > 128 ? le16(raw, 0x80) : 0;
    let seed = 0;
    if (this.csum) {
      seed = crc32cUpdate(crc32cUpdate(this.seed, u32le(ino)), raw.subarray(0x64, 0x68));
      const hasHi = extra >= 4;
      let crc = crcWithHole(seed, raw.subarray(0, 128), 0x7c, 2);
      if (this.inodeSize > 128) crc = hasHi ? crcWithHole(crc, raw.subarray(128), 2, 2) : crc32cUpdate(crc, raw.subarray(128));
      const stored = le16(raw, 0x7c) + (hasHi ? le16(raw, 0x82) * 0x10000 : 0);
      const computed = hasHi ? crc >>> 0 : crc & 0xffff;
      if (stored !== computed)
        throw new DiskImgError(
          'corrupt',
          `Inode ${ino} has checksum 0x${stored.toString(16)}, but its bytes sum to 0x${computed.toString(16)}: the inode is damaged`,
          { field: 'inode checksum', value: ino },
        );
    }
    const size = le32(raw, 4) + le32(raw, 0x6c) * 0x1_0000_0000;
    if (!Number.isSafeInteger(size))
      throw new DiskImgError('limit', `Inode ${ino} says it holds ${size} bytes, more than can be addressed`, {
        field: 'inode size',
        value: ino,
      });
    return { ino, raw, mode: le16(raw, 0), size, flags: le32(raw, 0x20), seed };
  }

  private entryFor(dir: FsEntry, name: string, inode: Inode): FsEntry {
    const r = inode.raw;
    const type = TYPES[inode.mode >> 12];
    if (!type)
      throw new DiskImgError(
        'corrupt',
        `Inode ${inode.ino} (${childPath(dir, name)}) has an unknown file type 0o${(inode.mode >> 12).toString(8)}`,
        { field: 'mode', value: inode.ino },
      );
    const extra = this.inodeSize > 128 ? le16(r, 0x80) : 0;
    let seconds = new DataView(r.buffer, r.byteOffset).getInt32(0x10, true);
    if (extra >= 0x0c) seconds += (le32(r, 0x88) & 3) * 0x1_0000_0000;
    const entry: FsEntry = {
      path: childPath(dir, name),
      name,
      type,
      size: type === 'dir' ? 0 : inode.size,
      mode: inode.mode & 0o7777,
      uid: le16(r, 2) + le16(r, 0x78) * 0x10000,
      gid: le16(r, 0x18) + le16(r, 0x7a) * 0x10000,
      nlink: le16(r, 0x1a),
      mtime: new Date(seconds * 1000).toISOString().replace('.000Z', 'Z'),
      ref: { id: `inode ${inode.ino}`, ino: inode.ino } as ExtRef,
    };
    if (type === 'block' || type === 'char') {
      // Old encoding in i_block[0], new (large numbers) in i_block[1].
      const old = le32(r, 0x28);
      const dev = old || le32(r, 0x2c);
      entry.device = old
        ? { major: (old >> 8) & 0xff, minor: old & 0xff }
        : { major: (dev & 0xfff00) >> 8, minor: (dev & 0xff) | ((dev >> 12) & 0xfff00) };
    }
    return entry;
  }

  /** The inline-data xattr ("system.data") value: the bytes of an inline file beyond i_block's 60. */
  private inlineXattr(inode: Inode): Uint8Array {
    const r = inode.raw;
    if (this.inodeSize <= 128) return new Uint8Array(0);
    const start = 128 + le16(r, 0x80);
    if (start + 4 > r.length || le32(r, start) !== 0xea020000) return new Uint8Array(0);
    const base = start + 4;
    for (let at = base; at + 16 <= r.length && le32(r, at) !== 0;) {
      const nameLength = r[at];
      const index = r[at + 1];
      const valueAt = base + le16(r, at + 2);
      const valueSize = le32(r, at + 8);
      if (index === 7 && nameLength === 4 && String.fromCharCode(...r.subarray(at + 16, at + 20)) === 'data') {
        if (valueAt + valueSize > r.length)
          throw new DiskImgError('corrupt', `The inline data of inode ${inode.ino} runs past the end of the inode`, {
            field: 'inline data',
            value: inode.ino,
          });
        return r.subarray(valueAt, valueAt + valueSize);
      }
      at += (16 + nameLength + 3) & ~3;
    }
    return new Uint8Array(0);
  }

  private inlineBytes(inode: Inode): Uint8Array {
    const head = inode.raw.subarray(0x28, 0x28 + 60);
    const tail = this.inlineXattr(inode);
    const out = new Uint8Array(head.length + tail.length);
    out.set(head);
    out.set(tail, head.length);
    return out;
  }

  /** The runs of a file in logical order: its extent tree or its block map. */
  private async *runs(inode: Inode): AsyncGenerator<Run> {
    if (inode.flags & INODE_EXTENTS) yield* this.extentRuns(inode, inode.raw.subarray(0x28, 0x28 + 60), -1, 'the inode');
    else yield* this.mapRuns(inode);
  }

  private async *extentRuns(inode: Inode, node: Uint8Array, depthExpected: number, where: string): AsyncGenerator<Run> {
    const bad = (why: string): never => {
      throw new DiskImgError('corrupt', `The extent tree of inode ${inode.ino} is damaged at ${where}: ${why}`, {
        field: 'extent tree',
        value: inode.ino,
      });
    };
    if (le16(node, 0) !== EXTENT_MAGIC) bad('no extent header magic 0xF30A');
    const entries = le16(node, 2);
    const max = le16(node, 4);
    const depth = le16(node, 6);
    if (entries > max || 12 + max * 12 > node.length) bad(`${entries} entries of at most ${max} do not fit`);
    if (depthExpected >= 0 ? depth !== depthExpected : depth > 5)
      bad(`depth ${depth}${depthExpected >= 0 ? `, expected ${depthExpected}` : ''}`);
    let last = -1;
    for (let i = 0; i < entries; i++) {
      const at = 12 + i * 12;
      const logical = le32(node, at);
      if (logical <= last && i > 0) bad(`entry ${i} starts at block ${logical}, not after the one before`);
      last = logical;
      if (depth === 0) {
        let count = le16(node, at + 4);
        const unwritten = count > 32768;
        if (unwritten) count -= 32768;
        const physical = le16(node, at + 6) * 0x1_0000_0000 + le32(node, at + 8);
        if (physical + count > this.blocks)
          throw new DiskImgError(
            'corrupt',
            `An extent of inode ${inode.ino} covers blocks ${physical}–${physical + count - 1}, beyond the end of the file system (${this.blocks} blocks)`,
            { field: 'extent', value: physical },
          );
        yield { logical, physical: unwritten ? -1 : physical, count };
      } else {
        const child = le32(node, at + 4) + le16(node, at + 8) * 0x1_0000_0000;
        const block = await this.block(child, `An extent index of inode ${inode.ino}`);
        if (this.csum) {
          const cmax = le16(block, 4);
          const tail = 12 + cmax * 12;
          if (tail + 4 <= block.length && le32(block, tail) !== crc32cUpdate(inode.seed, block.subarray(0, tail)) >>> 0)
            throw new DiskImgError('corrupt', `The extent block ${child} of inode ${inode.ino} fails its checksum`, {
              field: 'extent block checksum',
              value: child,
            });
        }
        yield* this.extentRuns(inode, block, depth - 1, `block ${child}`);
      }
    }
  }

  private async *mapRuns(inode: Inode): AsyncGenerator<Run> {
    const perBlock = this.blockSize / 4;
    const needed = Math.ceil(inode.size / this.blockSize);
    const r = inode.raw;
    let logical = 0;
    // A nested generator function (there are no generator arrows) has a `this` of its own.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    async function* level(pointer: number, depth: number): AsyncGenerator<Run> {
      const span = perBlock ** depth;
      if (pointer === 0) {
        logical += span;
        return;
      }
      if (depth === 0) {
        if (pointer >= self.blocks)
          throw new DiskImgError(
            'corrupt',
            `Block ${logical} of inode ${inode.ino} is mapped to block ${pointer}, beyond the end of the file system (${self.blocks} blocks)`,
            { field: 'block map', value: pointer },
          );
        yield { logical: logical++, physical: pointer, count: 1 };
        return;
      }
      const table = await self.block(pointer, `An indirect block of inode ${inode.ino}`);
      for (let i = 0; i < perBlock && logical < needed; i++) yield* level(le32(table, i * 4), depth - 1);
    }
    let run: Run | null = null;
    const pointers: Array<[number, number]> = [];
    for (let i = 0; i < 12; i++) pointers.push([le32(r, 0x28 + i * 4), 0]);
    pointers.push([le32(r, 0x58), 1], [le32(r, 0x5c), 2], [le32(r, 0x60), 3]);
    for (const [pointer, depth] of pointers) {
      if (logical >= needed) break;
      for await (const one of level(pointer, depth)) {
        if (run && run.physical + run.count === one.physical && run.logical + run.count === one.logical) run.count++;
        else {
          if (run) yield run;
          run = { ...one };
        }
      }
    }
    if (run) yield run;
  }

  /** Bytes `start`..`start + length` of an inode's data, holes as zeros. */
  private async *data(inode: Inode, start: number, length: number, what: string): AsyncGenerator<Uint8Array> {
    if (inode.flags & INODE_INLINE_DATA) {
      const bytes = this.inlineBytes(inode);
      if (start + length > bytes.length)
        throw new DiskImgError('corrupt', `${what} holds ${bytes.length} bytes of inline data, fewer than its size ${inode.size}`, {
          field: 'inline data',
          value: inode.ino,
        });
      yield bytes.slice(start, start + length);
      return;
    }
    const bs = this.blockSize;
    const end = start + length;
    let at = start;
    const zeros = function* (to: number) {
      for (; at < to;) {
        const size = Math.min(READ_CHUNK, to - at);
        at += size;
        yield new Uint8Array(size);
      }
    };
    for await (const run of this.runs(inode)) {
      const runStart = run.logical * bs;
      const runEnd = runStart + run.count * bs;
      if (runEnd <= at) continue;
      if (runStart >= end) break;
      yield* zeros(Math.min(runStart, end));
      const to = Math.min(runEnd, end);
      while (at < to) {
        const size = Math.min(READ_CHUNK, to - at);
        yield run.physical < 0
          ? new Uint8Array(size)
          : await readChecked(this.source, run.physical * bs + (at - runStart), size, `The data of ${what}`);
        at += size;
      }
    }
    yield* zeros(end);
  }

  async list(dir: FsEntry): Promise<FsEntry[]> {
    const inode = await this.inode((dir.ref as ExtRef).ino);
    if (inode.mode >> 12 !== 0x4)
      throw new DiskImgError('corrupt', `${dir.path} (inode ${inode.ino}) is not a directory`, { field: 'mode', value: inode.ino });
    if (inode.flags & INODE_ENCRYPT)
      throw new DiskImgError('unsupported', `${dir.path} is encrypted`, { field: 'flags', value: inode.ino });
    const found: Array<{ name: string; ino: number }> = [];
    const what = `directory ${dir.path} (inode ${inode.ino})`;
    const take = (b: Uint8Array, from: number, to: number, blockNo: number) => {
      for (let at = from; at + 8 <= to;) {
        let recLength = le16(b, at + 4);
        if (this.blockSize === 65536 && (recLength === 0 || recLength === 65535)) recLength = 65536;
        const nameLength = b[at + 6];
        if (recLength < 8 || recLength % 4 !== 0 || at + recLength > to || 8 + nameLength > recLength)
          throw new DiskImgError(
            'corrupt',
            `A directory entry of ${what} at byte ${at} of its block ${blockNo} has record length ${recLength}, which does not fit`,
            { field: 'rec_len', value: recLength },
          );
        const ino = le32(b, at);
        if (ino !== 0) {
          const name = new TextDecoder().decode(b.subarray(at + 8, at + 8 + nameLength));
          if (name !== '.' && name !== '..') {
            if (found.length >= MAX_DIR_ENTRIES)
              throw new DiskImgError('limit', `${what} has more than ${MAX_DIR_ENTRIES} entries`, { field: 'directory', value: dir.path });
            found.push({ name, ino });
          }
        }
        at += recLength;
      }
    };
    if (inode.flags & INODE_INLINE_DATA) {
      // i_block: the parent's inode number, then entries; the xattr value holds more entries.
      take(inode.raw.subarray(0x28, 0x28 + 60), 4, 60, 0);
      const tail = this.inlineXattr(inode);
      take(tail, 0, tail.length, 1);
    } else {
      if (inode.size > MAX_DIR_BYTES)
        throw new DiskImgError('limit', `${what} is ${inode.size} bytes long, more than ${MAX_DIR_BYTES}`, {
          field: 'directory size',
          value: inode.size,
        });
      const bs = this.blockSize;
      let blockNo = 0;
      let pending = new Uint8Array(0);
      for await (const chunk of this.data(inode, 0, Math.ceil(inode.size / bs) * bs, what)) {
        // Chunks are whole blocks except when a read crosses a run's end; join leftovers.
        let bytes = chunk;
        if (pending.length) {
          bytes = new Uint8Array(pending.length + chunk.length);
          bytes.set(pending);
          bytes.set(chunk, pending.length);
        }
        let at = 0;
        for (; at + bs <= bytes.length; at += bs, blockNo++) {
          const b = bytes.subarray(at, at + bs);
          let limit = bs;
          // A leaf with a checksum tail: a fake entry of 12 bytes, name length 0, type 0xDE.
          if (this.csum && le32(b, bs - 12) === 0 && le16(b, bs - 8) === 12 && b[bs - 6] === 0 && b[bs - 5] === 0xde) {
            limit = bs - 12;
            const stored = le32(b, bs - 4);
            const computed = crc32cUpdate(inode.seed, b.subarray(0, bs - 12)) >>> 0;
            if (stored !== computed)
              throw new DiskImgError(
                'corrupt',
                `Block ${blockNo} of ${what} fails its checksum (0x${stored.toString(16)} stored, 0x${computed.toString(16)} computed)`,
                { field: 'directory block checksum', value: blockNo },
              );
          }
          take(b, 0, limit, blockNo);
        }
        pending = bytes.slice(at);
      }
    }
    const out: FsEntry[] = [];
    for (const { name, ino } of found) {
      const child = await this.inode(ino);
      const entry = this.entryFor(dir, name, child);
      if (entry.type === 'symlink') entry.target = await this.linkTarget(child, entry.path);
      out.push(entry);
    }
    return out;
  }

  private async linkTarget(inode: Inode, path: string): Promise<string> {
    if (inode.size > 65536)
      throw new DiskImgError('corrupt', `The symbolic link ${path} says its target is ${inode.size} bytes long`, {
        field: 'symlink size',
        value: inode.size,
      });
    let bytes: Uint8Array;
    const blocks = le32(inode.raw, 0x1c);
    if (!(inode.flags & (INODE_EXTENTS | INODE_INLINE_DATA)) && inode.size < 60 && (blocks === 0 || le32(inode.raw, 0x68) !== 0)) {
      bytes = inode.raw.subarray(0x28, 0x28 + inode.size); // a fast symlink: the target in i_block
    } else {
      const parts: Uint8Array[] = [];
      for await (const chunk of this.data(inode, 0, inode.size, path)) parts.push(chunk);
      bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      parts.reduce((at, p) => (bytes.set(p, at), at + p.length), 0);
    }
    return new TextDecoder().decode(bytes);
  }

  async *read(file: FsEntry, start: number, length: number): AsyncGenerator<Uint8Array> {
    const inode = await this.inode((file.ref as ExtRef).ino);
    if (inode.flags & INODE_ENCRYPT)
      throw new DiskImgError('unsupported', `${file.path} is encrypted`, { field: 'flags', value: inode.ino });
    yield* this.data(inode, start, length, file.path);
  }
}
