/**
 * FAT12/16/32 browsed read-only, with VFAT long names (Microsoft's "FAT: General Overview of
 * On-Disk Format"). Cluster chains are followed through a small window cache of the first FAT;
 * a chain that runs out of range, hits a free or bad cluster, or loops is refused with where.
 */
import { DiskImgError } from '../errors.ts';
import { le16, le32 } from '../partitions/bytes.ts';
import type { ByteSource } from '../partitions/source.ts';
import { fatGeometry, type FatGeometry } from './fat.ts';
import { childPath, MAX_DIR_ENTRIES, READ_CHUNK, readChecked, type FsEntry, type FsReader } from './tree.ts';

/** The FAT spec's limit: 65 536 entries of 32 bytes. */
const MAX_DIR_BYTES = 65536 * 32;
const FAT_WINDOW = 64 * 1024;
const FAT_WINDOWS_KEPT = 8;
const ATTR_VOLUME = 0x08;
const ATTR_DIR = 0x10;
const ATTR_LFN = 0x0f;
const ATTR_READ_ONLY = 0x01;

interface FatRef {
  id: string;
  /** First cluster; 0 for FAT12/16's fixed root directory. */
  cluster: number;
}

/** The checksum of an 8.3 name that each of its long-name entries carries. */
function shortNameChecksum(entry: Uint8Array, at: number): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = ((((sum & 1) << 7) | (sum >> 1)) + entry[at + i]) & 0xff;
  return sum;
}

/** An 8.3 name as Linux and mtools show it: NT's lower-case flags (byte 12) honoured. */
function shortName(b: Uint8Array, at: number): string {
  const chars = (from: number, to: number, lower: boolean) => {
    let out = '';
    for (let i = from; i < to; i++) out += String.fromCharCode(i === at && b[i] === 0x05 ? 0xe5 : b[i]);
    out = out.replace(/ +$/, '');
    return lower ? out.toLowerCase() : out;
  };
  const base = chars(at, at + 8, (b[at + 12] & 0x08) !== 0);
  const ext = chars(at + 8, at + 11, (b[at + 12] & 0x10) !== 0);
  return ext ? `${base}.${ext}` : base;
}

/** A FAT date and time (local, no zone) as ISO 8601 without a zone. */
function fatTime(date: number, time: number): string | undefined {
  if (date === 0) return undefined;
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(1980 + (date >> 9), 4)}-${p((date >> 5) & 15)}-${p(date & 31)}T${p(time >> 11)}:${p((time >> 5) & 63)}:${p((time & 31) * 2)}`;
}

export class FatReader implements FsReader {
  readonly warnings: string[] = [];
  readonly type = 'vfat';
  private readonly bits: 12 | 16 | 32;
  private readonly clusterBytes: number;
  private readonly fatStart: number;
  private readonly dataStart: number;
  private readonly rootCluster: number;
  private readonly windows = new Map<number, Uint8Array>();

  private constructor(
    private readonly source: ByteSource,
    private readonly g: FatGeometry,
    bs: Uint8Array,
  ) {
    this.bits = g.fat32 ? 32 : g.clusters < 0xff5 ? 12 : 16;
    this.clusterBytes = g.sectorSize * g.sectorsPerCluster;
    this.fatStart = g.reserved * g.sectorSize;
    this.dataStart = (g.reserved + g.fats * g.fatLength + Math.ceil((g.rootEntries * 32) / g.sectorSize)) * g.sectorSize;
    this.rootCluster = g.fat32 ? le32(bs, 44) : 0;
    if (g.fat32 && !this.inRange(this.rootCluster))
      throw new DiskImgError(
        'corrupt',
        `The FAT32 root directory starts at cluster ${this.rootCluster}, outside clusters 2–${g.clusters + 1}`,
        { field: 'root cluster', offset: 44, value: this.rootCluster },
      );
  }

  static async open(source: ByteSource): Promise<FatReader> {
    const bs = await readChecked(source, 0, 512, 'The FAT boot sector');
    const g = fatGeometry(bs);
    if (!g)
      throw new DiskImgError('invalid-format', 'Not a FAT boot sector: its BIOS parameter block is not valid', {
        field: 'boot sector',
        offset: 0,
      });
    const end = g.sectors * g.sectorSize;
    if (end > source.size)
      throw new DiskImgError(
        'corrupt',
        `The FAT boot sector says the file system has ${end} bytes, but its partition has only ${source.size}`,
        { field: 'total sectors', offset: 19, value: g.sectors },
      );
    const fatBytes = g.fatLength * g.sectorSize;
    const needed = g.fat32 ? (g.clusters + 2) * 4 : g.clusters < 0xff5 ? Math.ceil(((g.clusters + 2) * 3) / 2) : (g.clusters + 2) * 2;
    if (fatBytes < needed)
      throw new DiskImgError('corrupt', `The FAT has ${fatBytes} bytes, too few for ${g.clusters} clusters`, {
        field: 'sectors per FAT',
        offset: 22,
        value: g.fatLength,
      });
    return new FatReader(source, g, bs);
  }

  root(): FsEntry {
    const cluster = this.rootCluster;
    return { path: '/', name: '', type: 'dir', size: 0, ref: { id: `cluster ${cluster}`, cluster } as FatRef };
  }

  private inRange(cluster: number): boolean {
    return cluster >= 2 && cluster < this.g.clusters + 2;
  }

  private async fatByte(offset: number): Promise<number> {
    const base = offset - (offset % FAT_WINDOW);
    let window = this.windows.get(base);
    if (!window) {
      const length = Math.min(FAT_WINDOW, this.g.fatLength * this.g.sectorSize - base);
      window = await readChecked(this.source, this.fatStart + base, length, 'The FAT');
      if (this.windows.size >= FAT_WINDOWS_KEPT) this.windows.delete(this.windows.keys().next().value!);
      this.windows.set(base, window);
    }
    return window[offset - base];
  }

  /** The FAT entry of `cluster`: the next cluster, or a value ≥ the end-of-chain mark. */
  private async next(cluster: number): Promise<number> {
    if (this.bits === 32) {
      const at = cluster * 4;
      return (
        ((await this.fatByte(at)) |
          ((await this.fatByte(at + 1)) << 8) |
          ((await this.fatByte(at + 2)) << 16) |
          ((await this.fatByte(at + 3)) << 24)) &
        0x0fffffff
      );
    }
    if (this.bits === 16) return (await this.fatByte(cluster * 2)) | ((await this.fatByte(cluster * 2 + 1)) << 8);
    const at = cluster + (cluster >> 1);
    const pair = (await this.fatByte(at)) | ((await this.fatByte(at + 1)) << 8);
    return cluster & 1 ? pair >> 4 : pair & 0xfff;
  }

  private get endOfChain(): number {
    return this.bits === 32 ? 0x0ffffff8 : this.bits === 16 ? 0xfff8 : 0xff8;
  }

  /**
   * The runs of contiguous clusters of a chain from `first`, at most `limit` clusters. A loop is
   * caught by Brent's cycle check (constant memory, whatever the chain's length).
   */
  private async *runs(first: number, limit: number, what: string): AsyncGenerator<{ cluster: number; count: number }> {
    let cluster = first;
    let run = { cluster: first, count: 0 };
    let saved = -1;
    let power = 1;
    let steps = 0;
    for (let n = 0; n < limit; n++) {
      if (!this.inRange(cluster))
        throw new DiskImgError(
          'corrupt',
          `The cluster chain of ${what} reaches cluster ${cluster}, outside clusters 2–${this.g.clusters + 1}`,
          { field: 'cluster', value: cluster },
        );
      if (cluster === saved)
        throw new DiskImgError('corrupt', `The cluster chain of ${what} loops back to cluster ${cluster}`, {
          field: 'cluster',
          value: cluster,
        });
      if (++steps === power) {
        saved = cluster;
        power *= 2;
        steps = 0;
      }
      if (run.count > 0 && cluster === run.cluster + run.count) run.count++;
      else {
        if (run.count > 0) yield run;
        run = { cluster, count: 1 };
      }
      if (n + 1 === limit) break;
      const following = await this.next(cluster);
      if (following >= this.endOfChain) break;
      if (following === 0 || following === this.endOfChain - 1)
        throw new DiskImgError(
          'corrupt',
          `The cluster chain of ${what} reaches a ${following === 0 ? 'free' : 'bad'} cluster after cluster ${cluster}`,
          { field: 'cluster', value: cluster },
        );
      cluster = following;
    }
    if (run.count > 0) yield run;
  }

  private clusterOffset(cluster: number): number {
    return this.dataStart + (cluster - 2) * this.clusterBytes;
  }

  /** A directory's raw entries, at most the spec's 2 MiB. */
  private async dirBytes(dir: FsEntry): Promise<Uint8Array> {
    const ref = dir.ref as FatRef;
    if (ref.cluster === 0)
      return readChecked(
        this.source,
        this.dataStart - Math.ceil((this.g.rootEntries * 32) / this.g.sectorSize) * this.g.sectorSize,
        this.g.rootEntries * 32,
        'The root directory',
      );
    const limit = Math.ceil(MAX_DIR_BYTES / this.clusterBytes) + 1;
    const parts: Uint8Array[] = [];
    let total = 0;
    for await (const run of this.runs(ref.cluster, limit, `directory ${dir.path}`)) {
      for (let c = 0; c < run.count; c++) {
        if (total >= MAX_DIR_BYTES)
          throw new DiskImgError(
            'corrupt',
            `Directory ${dir.path} is longer than FAT's limit of 65536 entries (its cluster chain loops or is damaged)`,
            { field: 'directory', value: dir.path },
          );
        parts.push(
          await readChecked(this.source, this.clusterOffset(run.cluster + c), this.clusterBytes, `A cluster of directory ${dir.path}`),
        );
        total += this.clusterBytes;
      }
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  async list(dir: FsEntry): Promise<FsEntry[]> {
    const b = await this.dirBytes(dir);
    const out: FsEntry[] = [];
    let long: string[] = [];
    let longChecksum = -1;
    let longNext = 0;
    for (let at = 0; at + 32 <= b.length; at += 32) {
      const first = b[at];
      if (first === 0) break;
      const attr = b[at + 11];
      if (first === 0xe5) {
        long = [];
        continue;
      }
      if ((attr & 0x3f) === ATTR_LFN) {
        // Long-name pieces come last first: sequence n | 0x40, then n-1 … 1.
        const seq = first & 0x1f;
        if (first & 0x40) {
          long = [];
          longChecksum = b[at + 13];
          longNext = seq;
        }
        if (seq !== longNext || seq === 0 || b[at + 13] !== longChecksum) {
          long = [];
          longNext = -1;
          continue;
        }
        let piece = '';
        for (const [from, count] of [
          [1, 5],
          [14, 6],
          [28, 2],
        ] as const) {
          for (let i = 0; i < count; i++) piece += String.fromCharCode(le16(b, at + from + i * 2));
        }
        long[seq - 1] = piece;
        longNext = seq - 1;
        continue;
      }
      const hasLong = long.length > 0 && longNext === 0 && shortNameChecksum(b, at) === longChecksum;
      const name = hasLong ? long.join('').split('\u0000')[0] : shortName(b, at);
      long = [];
      if (attr & ATTR_VOLUME) continue;
      if (name === '.' || name === '..') continue;
      if (out.length >= MAX_DIR_ENTRIES)
        throw new DiskImgError('limit', `Directory ${dir.path} has more than ${MAX_DIR_ENTRIES} entries`, {
          field: 'directory',
          value: dir.path,
        });
      const cluster = (this.bits === 32 ? le16(b, at + 20) * 0x10000 : 0) + le16(b, at + 26);
      const isDir = (attr & ATTR_DIR) !== 0;
      const mtime = fatTime(le16(b, at + 24), le16(b, at + 22));
      const entry: FsEntry = {
        path: childPath(dir, name),
        name,
        type: isDir ? 'dir' : 'file',
        size: isDir ? 0 : le32(b, at + 28),
        mode: isDir ? 0o755 : attr & ATTR_READ_ONLY ? 0o444 : 0o644,
        ...(mtime ? { mtime } : {}),
        ref: { id: `cluster ${cluster}`, cluster } as FatRef,
      };
      if (isDir && cluster === 0)
        throw new DiskImgError('corrupt', `Directory ${entry.path} has no first cluster`, { field: 'first cluster', value: entry.path });
      out.push(entry);
    }
    return out;
  }

  async *read(file: FsEntry, start: number, length: number): AsyncGenerator<Uint8Array> {
    const ref = file.ref as FatRef;
    const needed = Math.ceil(file.size / this.clusterBytes);
    if (needed === 0) return;
    if (ref.cluster === 0)
      throw new DiskImgError('corrupt', `${file.path} has ${file.size} bytes but no first cluster`, {
        field: 'first cluster',
        value: file.path,
      });
    const end = start + length;
    let logical = 0; // byte offset in the file of the current run
    let clusters = 0;
    for await (const run of this.runs(ref.cluster, needed, file.path)) {
      clusters += run.count;
      const runBytes = run.count * this.clusterBytes;
      const from = Math.max(start, logical);
      const to = Math.min(end, logical + runBytes);
      for (let at = from; at < to; at += READ_CHUNK) {
        const size = Math.min(READ_CHUNK, to - at);
        yield await readChecked(this.source, this.clusterOffset(run.cluster) + (at - logical), size, `The data of ${file.path}`);
      }
      logical += runBytes;
      if (logical >= end) return;
    }
    if (clusters < needed)
      throw new DiskImgError(
        'corrupt',
        `The cluster chain of ${file.path} ends after ${clusters} clusters; its ${file.size} bytes need ${needed}`,
        { field: 'cluster chain', value: file.path },
      );
  }
}
