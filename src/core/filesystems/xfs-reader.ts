/**
 * XFS browsed read-only (the XFS Algorithms & Data Structures book): inodes located from their
 * numbers (AG, block, slot), data forks held inline, as extent lists or as B+trees, directories in
 * short form or in data blocks (block, leaf and node directories read linearly: only their data
 * blocks hold names), symlinks inline or in remote blocks. On v5 (CRC) file systems the superblock,
 * inodes and directory blocks are checked.
 */
import { DiskImgError } from '../errors.ts';
import { crc32cUpdate } from '../formats/vhdx/crc32c.ts';
import type { ByteSource } from '../partitions/source.ts';
import { childPath, MAX_DIR_ENTRIES, READ_CHUNK, readChecked, type FsEntry, type FsEntryType, type FsReader } from './tree.ts';

const FORMAT_LOCAL = 1;
const FORMAT_EXTENTS = 2;
const FORMAT_BTREE = 3;
const INCOMPAT_FTYPE = 0x1;
const INCOMPAT_NREXT64 = 0x20;
const FEATURES2_FTYPE = 0x200;
const DIFLAG2_BIGTIME = 0x8;
/** Directory data blocks live below this byte offset of the directory; leaf and free blocks above. */
const DIR_LEAF_OFFSET = 32 * 2 ** 30;
const MAX_DIR_BYTES = 256 << 20;
const MAX_EXTENTS = 1_000_000;
const BLOCKS_KEPT = 64;

const TYPES: Record<number, FsEntryType> = {
  0x1: 'fifo',
  0x2: 'char',
  0x4: 'dir',
  0x6: 'block',
  0x8: 'file',
  0xa: 'symlink',
  0xc: 'socket',
};
const be16 = (b: Uint8Array, at: number) => (b[at] << 8) | b[at + 1];
const be32 = (b: Uint8Array, at: number) => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
const be64 = (b: Uint8Array, at: number) => be32(b, at) * 0x1_0000_0000 + be32(b, at + 4);
const be64n = (b: Uint8Array, at: number) => (BigInt(be32(b, at)) << 32n) | BigInt(be32(b, at + 4));
const ascii = (b: Uint8Array, at: number, n: number) => String.fromCharCode(...b.subarray(at, at + n));

/** Standard CRC-32C with a 4-byte field at `hole` read as zero; XFS stores it little-endian. */
function crcValid(bytes: Uint8Array, hole: number): boolean {
  let crc = crc32cUpdate(0xffffffff, bytes.subarray(0, hole));
  crc = crc32cUpdate(crc, new Uint8Array(4));
  crc = (crc32cUpdate(crc, bytes.subarray(hole + 4)) ^ 0xffffffff) >>> 0;
  return crc === (bytes[hole] | (bytes[hole + 1] << 8) | (bytes[hole + 2] << 16) | (bytes[hole + 3] << 24)) >>> 0;
}

interface XfsRef {
  id: string;
  ino: number;
}

interface Inode {
  ino: number;
  raw: Uint8Array;
  mode: number;
  format: number;
  size: number;
  /** Byte offset of the data fork and its length. */
  fork: number;
  forkSize: number;
  extents: number;
}

interface Extent {
  offset: number;
  block: number;
  count: number;
  unwritten: boolean;
}

export class XfsReader implements FsReader {
  readonly warnings: string[] = [];
  readonly type = 'xfs';
  private readonly cache = new Map<number, Uint8Array>();

  private constructor(
    private readonly source: ByteSource,
    private readonly blockSize: number,
    private readonly agBlocks: number,
    private readonly agCount: number,
    private readonly agBlockLog: number,
    private readonly inodesPerBlockLog: number,
    private readonly inodeSize: number,
    private readonly dirBlockSize: number,
    private readonly rootIno: number,
    private readonly v5: boolean,
    private readonly ftype: boolean,
    private readonly nrext64: boolean,
  ) {}

  static async open(source: ByteSource): Promise<XfsReader> {
    const sb = await readChecked(source, 0, 512, 'The XFS superblock');
    if (ascii(sb, 0, 4) !== 'XFSB')
      throw new DiskImgError('invalid-format', 'Not an XFS file system: no XFSB at byte 0', { field: 'magic', offset: 0 });
    const bad = (field: string, offset: number, value: number, why: string): never => {
      throw new DiskImgError('corrupt', `The XFS superblock's ${field} (${value}) ${why}`, { field, offset, value });
    };
    const blockSize = be32(sb, 4);
    if (blockSize < 512 || blockSize > 65536 || (blockSize & (blockSize - 1)) !== 0)
      bad('block size', 4, blockSize, 'is not a power of two from 512 to 65536');
    const version = be16(sb, 100) & 0xf;
    if (version !== 4 && version !== 5) bad('version', 100, version, 'is not 4 or 5');
    const v5 = version === 5;
    const sectorSize = be16(sb, 102);
    if (v5) {
      const sector = await readChecked(source, 0, sectorSize, 'The XFS superblock');
      if (!crcValid(sector, 224))
        throw new DiskImgError('corrupt', "The XFS superblock's checksum does not match its bytes: the superblock is damaged", {
          field: 'checksum',
          offset: 224,
        });
    }
    const agBlocks = be32(sb, 84);
    const agCount = be32(sb, 88);
    const inodeSize = be16(sb, 104);
    const agBlockLog = sb[124];
    const inodesPerBlockLog = sb[123];
    if (inodeSize < 256 || inodeSize > 2048 || (inodeSize & (inodeSize - 1)) !== 0 || blockSize / inodeSize !== 2 ** inodesPerBlockLog)
      bad('inode size', 104, inodeSize, `does not fit blocks of ${blockSize} bytes`);
    if (agBlocks === 0 || agBlockLog > 31 || 2 ** agBlockLog < agBlocks || agCount === 0)
      bad('allocation group size', 84, agBlocks, `does not agree with its log ${agBlockLog}`);
    const dblocks = be64(sb, 8);
    if (dblocks * blockSize > source.size)
      throw new DiskImgError(
        'corrupt',
        `The XFS superblock says the file system has ${dblocks * blockSize} bytes, but its partition has only ${source.size}`,
        { field: 'data blocks', offset: 8, value: dblocks },
      );
    const incompat = v5 ? be32(sb, 216) : 0;
    const ftype = v5 ? (incompat & INCOMPAT_FTYPE) !== 0 : (be32(sb, 200) & FEATURES2_FTYPE) !== 0;
    const dirBlockSize = blockSize * 2 ** sb[192];
    return new XfsReader(
      source,
      blockSize,
      agBlocks,
      agCount,
      agBlockLog,
      inodesPerBlockLog,
      inodeSize,
      dirBlockSize,
      be64(sb, 56),
      v5,
      ftype,
      (incompat & INCOMPAT_NREXT64) !== 0,
    );
  }

  root(): FsEntry {
    return { path: '/', name: '', type: 'dir', size: 0, mode: 0o755, ref: { id: `inode ${this.rootIno}`, ino: this.rootIno } as XfsRef };
  }

  /** Byte offset on the volume of file-system block `fsb` (its AG number above the AG block bits). */
  private address(fsb: number, what: string): number {
    const ag = Math.floor(fsb / 2 ** this.agBlockLog);
    const block = fsb % 2 ** this.agBlockLog;
    if (ag >= this.agCount || block >= this.agBlocks)
      throw new DiskImgError(
        'corrupt',
        `${what} points to block ${fsb} (AG ${ag}, block ${block}), beyond the file system (${this.agCount} AGs of ${this.agBlocks} blocks)`,
        { field: 'block', value: fsb },
      );
    return (ag * this.agBlocks + block) * this.blockSize;
  }

  private async block(fsb: number, what: string): Promise<Uint8Array> {
    const hit = this.cache.get(fsb);
    if (hit) return hit;
    const bytes = await readChecked(this.source, this.address(fsb, what), this.blockSize, what);
    if (this.cache.size >= BLOCKS_KEPT) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(fsb, bytes);
    return bytes;
  }

  private async inode(ino: number): Promise<Inode> {
    const perBlockLog = this.inodesPerBlockLog;
    const slot = ino % 2 ** perBlockLog;
    const fsb = Math.floor(ino / 2 ** perBlockLog);
    const block = await this.block(fsb, `Inode ${ino}`);
    const raw = block.subarray(slot * this.inodeSize, (slot + 1) * this.inodeSize);
    if (ascii(raw, 0, 2) !== 'IN') throw new DiskImgError('corrupt', `Inode ${ino} has no IN signature`, { field: 'inode', value: ino });
    const version = raw[4];
    if (version === 3 && !crcValid(raw, 100))
      throw new DiskImgError('corrupt', `Inode ${ino} fails its checksum: the inode is damaged`, { field: 'inode checksum', value: ino });
    const fork = version === 3 ? 176 : 100;
    const forkOffset = raw[82];
    const forkSize = forkOffset ? forkOffset * 8 : this.inodeSize - fork;
    if (fork + forkSize > this.inodeSize)
      throw new DiskImgError('corrupt', `Inode ${ino}'s fork offset ${forkOffset} runs past the inode`, {
        field: 'fork offset',
        value: ino,
      });
    const size = be64(raw, 56);
    if (!Number.isSafeInteger(size))
      throw new DiskImgError('limit', `Inode ${ino} says it holds ${size} bytes`, { field: 'size', value: ino });
    const extents = this.nrext64 && be64(raw, 120) & 0x10 ? be64(raw, 24) : be32(raw, 76);
    return { ino, raw, mode: be16(raw, 2), format: raw[5], size, fork, forkSize, extents };
  }

  private parseExtent(b: Uint8Array, at: number): Extent {
    const l0 = be64n(b, at);
    const l1 = be64n(b, at + 8);
    return {
      unwritten: l0 >> 63n === 1n,
      offset: Number((l0 >> 9n) & ((1n << 54n) - 1n)),
      block: Number(((l0 & 0x1ffn) << 43n) | (l1 >> 21n)),
      count: Number(l1 & ((1n << 21n) - 1n)),
    };
  }

  /** A file's extents in logical order, from its inode's list or its B+tree. */
  private async *extentsOf(inode: Inode): AsyncGenerator<Extent> {
    const f = inode.raw.subarray(inode.fork, inode.fork + inode.forkSize);
    if (inode.format === FORMAT_EXTENTS) {
      if (inode.extents * 16 > f.length)
        throw new DiskImgError('corrupt', `Inode ${inode.ino} says it has ${inode.extents} extents, more than its fork holds`, {
          field: 'extents',
          value: inode.ino,
        });
      for (let i = 0; i < inode.extents; i++) yield this.parseExtent(f, i * 16);
      return;
    }
    if (inode.format !== FORMAT_BTREE)
      throw new DiskImgError('corrupt', `Inode ${inode.ino} has data fork format ${inode.format}`, { field: 'format', value: inode.ino });
    const level = be16(f, 0);
    const records = be16(f, 2);
    const maxRecords = Math.floor((f.length - 4) / 16);
    if (level === 0 || level > 8 || records > maxRecords)
      throw new DiskImgError('corrupt', `The extent B+tree root of inode ${inode.ino} is damaged (level ${level}, ${records} records)`, {
        field: 'bmbt root',
        value: inode.ino,
      });
    let seen = 0;
    for (let i = 0; i < records; i++) {
      for await (const e of this.btree(inode, be64(f, 4 + maxRecords * 8 + i * 8), level - 1)) {
        if (++seen > MAX_EXTENTS)
          throw new DiskImgError('limit', `Inode ${inode.ino} has more than ${MAX_EXTENTS} extents`, {
            field: 'extents',
            value: inode.ino,
          });
        yield e;
      }
    }
  }

  private async *btree(inode: Inode, fsb: number, level: number): AsyncGenerator<Extent> {
    const b = await this.block(fsb, `An extent B+tree block of inode ${inode.ino}`);
    const magic = ascii(b, 0, 4);
    if (magic !== (this.v5 ? 'BMA3' : 'BMAP') || be16(b, 4) !== level)
      throw new DiskImgError(
        'corrupt',
        `Extent B+tree block ${fsb} of inode ${inode.ino} is damaged (magic ${JSON.stringify(magic)}, level ${be16(b, 4)}, expected ${level})`,
        { field: 'bmbt block', value: fsb },
      );
    if (this.v5 && !crcValid(b, 64))
      throw new DiskImgError('corrupt', `Extent B+tree block ${fsb} of inode ${inode.ino} fails its checksum`, {
        field: 'bmbt checksum',
        value: fsb,
      });
    const header = this.v5 ? 72 : 24;
    const records = be16(b, 6);
    if (level === 0) {
      if (header + records * 16 > b.length)
        throw new DiskImgError('corrupt', `Extent B+tree block ${fsb} of inode ${inode.ino} claims ${records} records`, {
          field: 'bmbt records',
          value: records,
        });
      for (let i = 0; i < records; i++) yield this.parseExtent(b, header + i * 16);
      return;
    }
    const maxRecords = Math.floor((b.length - header) / 16);
    if (records > maxRecords)
      throw new DiskImgError('corrupt', `Extent B+tree block ${fsb} of inode ${inode.ino} claims ${records} records`, {
        field: 'bmbt records',
        value: records,
      });
    for (let i = 0; i < records; i++) yield* this.btree(inode, be64(b, header + maxRecords * 8 + i * 8), level - 1);
  }

  /** Bytes `start`..`start+length` of an inode's data: inline, or through its extents (holes and unwritten extents as zeros). */
  private async *data(inode: Inode, start: number, length: number, what: string): AsyncGenerator<Uint8Array> {
    if (inode.format === FORMAT_LOCAL) {
      if (start + length > inode.forkSize)
        throw new DiskImgError('corrupt', `${what} holds ${inode.forkSize} bytes inline, fewer than its size ${inode.size}`, {
          field: 'size',
          value: inode.ino,
        });
      yield inode.raw.slice(inode.fork + start, inode.fork + start + length);
      return;
    }
    const bs = this.blockSize;
    const end = start + length;
    let at = start;
    const zeros = function* (to: number) {
      while (at < to) {
        const size = Math.min(READ_CHUNK, to - at);
        at += size;
        yield new Uint8Array(size);
      }
    };
    for await (const e of this.extentsOf(inode)) {
      const from = e.offset * bs;
      const to = from + e.count * bs;
      if (to <= at) continue;
      if (from >= end) break;
      yield* zeros(Math.min(from, end));
      const stop = Math.min(to, end);
      while (at < stop) {
        // One read never crosses an AG boundary: the blocks of an extent are contiguous within its AG.
        const size = Math.min(READ_CHUNK, stop - at);
        if (e.unwritten) yield new Uint8Array(size);
        else {
          const first = e.block + Math.floor((at - from) / bs);
          yield await readChecked(
            this.source,
            this.address(first, `The data of ${what}`) + ((at - from) % bs),
            size,
            `The data of ${what}`,
          );
        }
        at += size;
      }
    }
    yield* zeros(end);
  }

  private entryFor(dir: FsEntry, name: string, inode: Inode): FsEntry {
    const r = inode.raw;
    const type = TYPES[inode.mode >> 12];
    if (!type)
      throw new DiskImgError('corrupt', `Inode ${inode.ino} (${childPath(dir, name)}) has an unknown file type`, {
        field: 'mode',
        value: inode.ino,
      });
    const bigtime = r[4] === 3 && be64(r, 120) & DIFLAG2_BIGTIME;
    const seconds = bigtime ? Number(be64n(r, 40) / 1_000_000_000n) - 2 ** 31 : new DataView(r.buffer, r.byteOffset).getInt32(40);
    const entry: FsEntry = {
      path: childPath(dir, name),
      name,
      type,
      size: type === 'dir' ? 0 : inode.size,
      mode: inode.mode & 0o7777,
      uid: be32(r, 8),
      gid: be32(r, 12),
      nlink: be32(r, 16),
      mtime: new Date(seconds * 1000).toISOString().replace('.000Z', 'Z'),
      ref: { id: `inode ${inode.ino}`, ino: inode.ino } as XfsRef,
    };
    if ((type === 'block' || type === 'char') && inode.forkSize >= 4) {
      const dev = be32(r, inode.fork);
      entry.device = { major: dev >>> 18, minor: dev & 0x3ffff };
    }
    return entry;
  }

  async list(dir: FsEntry): Promise<FsEntry[]> {
    const inode = await this.inode((dir.ref as XfsRef).ino);
    if (inode.mode >> 12 !== 0x4)
      throw new DiskImgError('corrupt', `${dir.path} (inode ${inode.ino}) is not a directory`, { field: 'mode', value: inode.ino });
    const what = `directory ${dir.path} (inode ${inode.ino})`;
    const found: Array<{ name: string; ino: number }> = [];
    const push = (name: string, ino: number) => {
      if (found.length >= MAX_DIR_ENTRIES)
        throw new DiskImgError('limit', `${what} has more than ${MAX_DIR_ENTRIES} entries`, { field: 'directory', value: dir.path });
      if (name !== '.' && name !== '..') found.push({ name, ino });
    };
    const decoder = new TextDecoder();
    if (inode.format === FORMAT_LOCAL) {
      const f = inode.raw.subarray(inode.fork, inode.fork + inode.forkSize);
      const count = f[0];
      const wide = f[1] > 0;
      const inoSize = wide ? 8 : 4;
      let at = 2 + inoSize;
      for (let i = 0; i < count; i++) {
        const nameLength = f[at];
        const next = at + 3 + nameLength + (this.ftype ? 1 : 0) + inoSize;
        if (nameLength === 0 || next > f.length)
          throw new DiskImgError('corrupt', `The short-form entries of ${what} run past its fork`, {
            field: 'shortform',
            value: inode.ino,
          });
        const name = decoder.decode(f.subarray(at + 3, at + 3 + nameLength));
        const inoAt = at + 3 + nameLength + (this.ftype ? 1 : 0);
        push(name, wide ? be64(f, inoAt) : be32(f, inoAt));
        at = next;
      }
    } else {
      const dataEnd = Math.min(inode.size, DIR_LEAF_OFFSET);
      if (dataEnd > MAX_DIR_BYTES)
        throw new DiskImgError('limit', `${what} is ${dataEnd} bytes, more than ${MAX_DIR_BYTES}`, {
          field: 'directory size',
          value: dataEnd,
        });
      const dbs = this.dirBlockSize;
      let pending = new Uint8Array(0);
      for await (const chunk of this.data(inode, 0, Math.ceil(dataEnd / dbs) * dbs, what)) {
        let bytes = chunk;
        if (pending.length) {
          bytes = new Uint8Array(pending.length + chunk.length);
          bytes.set(pending);
          bytes.set(chunk, pending.length);
        }
        let at = 0;
        for (; at + dbs <= bytes.length; at += dbs) this.dataBlock(bytes.subarray(at, at + dbs), what, push);
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

  /** The names in one directory data block (a hole in a sparse directory reads as zeros and is skipped). */
  private dataBlock(b: Uint8Array, what: string, push: (name: string, ino: number) => void): void {
    const magic = ascii(b, 0, 4);
    if (b.every((x) => x === 0)) return;
    const block = magic === 'XDB3' || magic === 'XD2B';
    if (!block && magic !== 'XDD3' && magic !== 'XD2D')
      throw new DiskImgError('corrupt', `A data block of ${what} has no directory signature (found ${JSON.stringify(magic)})`, {
        field: 'directory block',
        value: magic,
      });
    if (this.v5 && !crcValid(b, 4))
      throw new DiskImgError('corrupt', `A data block of ${what} fails its checksum`, { field: 'directory block checksum' });
    let end = b.length;
    if (block) {
      const leaves = be32(b, b.length - 8);
      end = b.length - 8 - leaves * 8;
      if (end < 0)
        throw new DiskImgError('corrupt', `A block of ${what} claims ${leaves} leaf entries`, { field: 'leaf count', value: leaves });
    }
    const decoder = new TextDecoder();
    for (let at = this.v5 ? 64 : 16; at + 8 <= end;) {
      if (be16(b, at) === 0xffff) {
        const length = be16(b, at + 2);
        if (length < 8 || length % 8 !== 0)
          throw new DiskImgError('corrupt', `An unused entry of ${what} at byte ${at} has length ${length}`, {
            field: 'unused entry',
            value: length,
          });
        at += length;
        continue;
      }
      const nameLength = b[at + 8];
      const size = Math.ceil((8 + 1 + nameLength + (this.ftype ? 1 : 0) + 2) / 8) * 8;
      if (nameLength === 0 || at + size > end)
        throw new DiskImgError('corrupt', `An entry of ${what} at byte ${at} does not fit its block`, {
          field: 'directory entry',
          value: at,
        });
      push(decoder.decode(b.subarray(at + 9, at + 9 + nameLength)), be64(b, at));
      at += size;
    }
  }

  private async linkTarget(inode: Inode, path: string): Promise<string> {
    if (inode.size > 1024)
      throw new DiskImgError('corrupt', `The symbolic link ${path} says its target is ${inode.size} bytes long (XFS allows 1024)`, {
        field: 'symlink size',
        value: inode.size,
      });
    if (inode.format === FORMAT_LOCAL)
      return new TextDecoder().decode(inode.raw.subarray(inode.fork, inode.fork + Math.min(inode.size, inode.forkSize)));
    // Remote: v5 blocks each start with a 56-byte header (XSLM) before their part of the target.
    const header = this.v5 ? 56 : 0;
    const parts: Uint8Array[] = [];
    let left = inode.size;
    for await (const e of this.extentsOf(inode)) {
      for (let i = 0; i < e.count && left > 0; i++) {
        const b = await this.block(e.block + i, `The target of ${path}`);
        if (this.v5 && ascii(b, 0, 4) !== 'XSLM')
          throw new DiskImgError('corrupt', `A block of the symbolic link ${path} has no XSLM signature`, { field: 'symlink block' });
        const take = Math.min(left, b.length - header);
        parts.push(b.subarray(header, header + take));
        left -= take;
      }
    }
    const bytes = new Uint8Array(inode.size - left);
    parts.reduce((at, p) => (bytes.set(p, at), at + p.length), 0);
    return new TextDecoder().decode(bytes);
  }

  async *read(file: FsEntry, start: number, length: number): AsyncGenerator<Uint8Array> {
    yield* this.data(await this.inode((file.ref as XfsRef).ino), start, length, file.path);
  }
}
