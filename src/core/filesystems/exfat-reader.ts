/**
 * exFAT browsed read-only (Microsoft's "exFAT file system specification"): the boot region's
 * checksum, directory entry sets (file, stream extension, names) with their set checksums, files
 * kept contiguous without a FAT chain ("NoFatChain") or followed through the FAT, bytes past the
 * valid data length read as zeros. A chain that loops or leaves the cluster heap is refused.
 */
import { DiskImgError } from '../errors.ts';
import { le16, le32, le64 } from '../partitions/bytes.ts';
import type { ByteSource } from '../partitions/source.ts';
import { isExfatBootSector } from './exfat.ts';
import { childPath, MAX_DIR_ENTRIES, READ_CHUNK, readChecked, type FsEntry, type FsReader } from './tree.ts';

/** The spec's limit on a directory: 256 MiB. */
const MAX_DIR_BYTES = 256 << 20;
const ENTRY_FILE = 0x85;
const ENTRY_STREAM = 0xc0;
const ENTRY_NAME = 0xc1;
const ATTR_DIRECTORY = 0x10;
const ATTR_READ_ONLY = 0x01;
const FAT_WINDOW = 64 * 1024;

interface ExfatRef {
  id: string;
  cluster: number;
  /** Bytes of data (a directory's allocated length); -1: unknown, follow the chain (the root). */
  length: number;
  valid: number;
  contiguous: boolean;
}

/** An exFAT timestamp: UTC when its offset byte says it is valid, otherwise local time without a zone. */
function timestamp(stamp: number, tenMs: number, offset: number): string | undefined {
  if (stamp === 0) return undefined;
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const year = 1980 + (stamp >>> 25);
  const local = Date.UTC(
    year,
    ((stamp >>> 21) & 15) - 1,
    (stamp >>> 16) & 31,
    (stamp >>> 11) & 31,
    (stamp >>> 5) & 63,
    (stamp & 31) * 2 + Math.floor(tenMs / 100),
  );
  if (!(offset & 0x80)) {
    const d = new Date(local);
    return `${p(d.getUTCFullYear(), 4)}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
  }
  const minutes = (((offset & 0x7f) << 25) >> 25) * 15; // signed 7-bit count of 15-minute steps
  return new Date(local - minutes * 60_000).toISOString().replace('.000Z', 'Z');
}

export class ExfatReader implements FsReader {
  readonly warnings: string[] = [];
  readonly type = 'exfat';
  private readonly windows = new Map<number, Uint8Array>();

  private constructor(
    private readonly source: ByteSource,
    private readonly clusterSize: number,
    private readonly fatOffset: number,
    private readonly heapOffset: number,
    private readonly clusterCount: number,
    private readonly rootCluster: number,
  ) {}

  static async open(source: ByteSource): Promise<ExfatReader> {
    const bs = await readChecked(source, 0, 512, 'The exFAT boot sector');
    if (!isExfatBootSector(bs)) throw new DiskImgError('invalid-format', 'Not an exFAT boot sector', { field: 'boot sector', offset: 0 });
    const sectorSize = 2 ** bs[108];
    // Sectors 0–10 of the boot region are summed (without VolumeFlags and PercentInUse); sector 11 repeats the sum.
    const region = await readChecked(source, 0, 12 * sectorSize, 'The exFAT boot region');
    let sum = 0;
    for (let i = 0; i < 11 * sectorSize; i++) {
      if (i === 106 || i === 107 || i === 112) continue;
      sum = ((sum & 1 ? 0x80000000 : 0) + (sum >>> 1) + region[i]) >>> 0;
    }
    const stored = le32(region, 11 * sectorSize);
    if (stored !== sum)
      throw new DiskImgError(
        'corrupt',
        `The exFAT boot region's checksum is 0x${stored.toString(16)}, but its sectors sum to 0x${sum.toString(16)}: the boot sector is damaged`,
        { field: 'boot checksum', offset: 11 * sectorSize, value: stored },
      );
    const clusterSize = sectorSize * 2 ** bs[109];
    const clusterCount = le32(bs, 92);
    const heapOffset = le32(bs, 88) * sectorSize;
    const fatOffset = le32(bs, 80) * sectorSize;
    const end = heapOffset + clusterCount * clusterSize;
    if (end > source.size)
      throw new DiskImgError(
        'corrupt',
        `The exFAT cluster heap ends at byte ${end}, past the end of its partition (${source.size} bytes)`,
        { field: 'cluster count', offset: 92, value: clusterCount },
      );
    if (le32(bs, 84) * sectorSize < (clusterCount + 2) * 4)
      throw new DiskImgError('corrupt', `The exFAT FAT has ${le32(bs, 84) * sectorSize} bytes, too few for ${clusterCount} clusters`, {
        field: 'FAT length',
        offset: 84,
        value: le32(bs, 84),
      });
    const root = le32(bs, 96);
    if (root < 2 || root >= clusterCount + 2)
      throw new DiskImgError('corrupt', `The exFAT root directory starts at cluster ${root}, outside clusters 2–${clusterCount + 1}`, {
        field: 'root cluster',
        offset: 96,
        value: root,
      });
    return new ExfatReader(source, clusterSize, fatOffset, heapOffset, clusterCount, root);
  }

  root(): FsEntry {
    return {
      path: '/',
      name: '',
      type: 'dir',
      size: 0,
      ref: { id: `cluster ${this.rootCluster}`, cluster: this.rootCluster, length: -1, valid: -1, contiguous: false } as ExfatRef,
    };
  }

  private async next(cluster: number): Promise<number> {
    const offset = cluster * 4;
    const base = offset - (offset % FAT_WINDOW);
    let window = this.windows.get(base);
    if (!window) {
      window = await readChecked(this.source, this.fatOffset + base, FAT_WINDOW, 'The exFAT FAT');
      if (this.windows.size >= 8) this.windows.delete(this.windows.keys().next().value!);
      this.windows.set(base, window);
    }
    return le32(window, offset - base);
  }

  /** Runs of contiguous clusters holding `limit` clusters from `first` (a loop caught by Brent's check). */
  private async *runs(ref: ExfatRef, limit: number, what: string): AsyncGenerator<{ cluster: number; count: number }> {
    const inRange = (c: number) => c >= 2 && c < this.clusterCount + 2;
    if (ref.contiguous) {
      if (!inRange(ref.cluster) || ref.cluster + limit > this.clusterCount + 2)
        throw new DiskImgError(
          'corrupt',
          `${what} occupies clusters ${ref.cluster}–${ref.cluster + limit - 1}, outside the cluster heap (clusters 2–${this.clusterCount + 1})`,
          { field: 'first cluster', value: ref.cluster },
        );
      yield { cluster: ref.cluster, count: limit };
      return;
    }
    let cluster = ref.cluster;
    let run = { cluster, count: 0 };
    let saved = -1;
    let power = 1;
    let steps = 0;
    for (let n = 0; n < limit; n++) {
      if (!inRange(cluster))
        throw new DiskImgError(
          'corrupt',
          `The cluster chain of ${what} reaches cluster ${cluster}, outside clusters 2–${this.clusterCount + 1}`,
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
      if (following === 0xffffffff) break;
      cluster = following;
    }
    if (run.count > 0) yield run;
  }

  private async *bytes(ref: ExfatRef, start: number, length: number, what: string): AsyncGenerator<Uint8Array> {
    const clusters = Math.ceil((start + length) / this.clusterSize);
    const end = start + length;
    let logical = 0;
    for await (const run of this.runs(ref, clusters, what)) {
      const runBytes = run.count * this.clusterSize;
      const from = Math.max(start, logical);
      const to = Math.min(end, logical + runBytes);
      for (let at = from; at < to; at += READ_CHUNK) {
        const size = Math.min(READ_CHUNK, to - at);
        if (ref.valid >= 0 && at >= ref.valid) yield new Uint8Array(size);
        else {
          const bytes = await readChecked(
            this.source,
            this.heapOffset + (run.cluster - 2) * this.clusterSize + (at - logical),
            size,
            `The data of ${what}`,
          );
          if (ref.valid >= 0 && at + size > ref.valid) bytes.fill(0, ref.valid - at);
          yield bytes;
        }
      }
      logical += runBytes;
      if (logical >= end) return;
    }
    if (logical < end)
      throw new DiskImgError('corrupt', `The cluster chain of ${what} ends after ${logical} bytes; it should hold ${end}`, {
        field: 'cluster chain',
        value: logical,
      });
  }

  async list(dir: FsEntry): Promise<FsEntry[]> {
    const ref = dir.ref as ExfatRef;
    const what = `directory ${dir.path}`;
    if (ref.length > MAX_DIR_BYTES)
      throw new DiskImgError('limit', `${what} is ${ref.length} bytes, more than exFAT's ${MAX_DIR_BYTES}`, {
        field: 'directory size',
        value: ref.length,
      });
    const parts: Uint8Array[] = [];
    let total = 0;
    if (ref.length >= 0) {
      for await (const chunk of this.bytes(ref, 0, ref.length, what)) parts.push(chunk);
    } else {
      for await (const run of this.runs(ref, MAX_DIR_BYTES / this.clusterSize + 1, what)) {
        for (let c = 0; c < run.count; c++) {
          if ((total += this.clusterSize) > MAX_DIR_BYTES)
            throw new DiskImgError('corrupt', `${what} is longer than exFAT's limit of 256 MiB (its cluster chain loops or is damaged)`, {
              field: 'directory',
              value: dir.path,
            });
          parts.push(
            await readChecked(
              this.source,
              this.heapOffset + (run.cluster + c - 2) * this.clusterSize,
              this.clusterSize,
              `A cluster of ${what}`,
            ),
          );
        }
      }
    }
    const b = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (b.set(p, at), at + p.length), 0);
    const out: FsEntry[] = [];
    for (let at = 0; at + 32 <= b.length; at += 32) {
      const type = b[at];
      if (type === 0) break;
      if (type !== ENTRY_FILE) continue;
      const secondaries = b[at + 1];
      const setEnd = at + 32 * (secondaries + 1);
      if (secondaries < 2 || setEnd > b.length)
        throw new DiskImgError('corrupt', `A file entry of ${what} at byte ${at} has ${secondaries} secondary entries, which do not fit`, {
          field: 'secondary count',
          value: secondaries,
        });
      let sum = 0;
      for (let i = at; i < setEnd; i++) if (i !== at + 2 && i !== at + 3) sum = ((sum & 1 ? 0x8000 : 0) + (sum >>> 1) + b[i]) & 0xffff;
      if (sum !== le16(b, at + 2))
        throw new DiskImgError(
          'corrupt',
          `The entry set at byte ${at} of ${what} fails its checksum (0x${le16(b, at + 2).toString(16)} stored, 0x${sum.toString(16)} computed)`,
          { field: 'set checksum', value: at },
        );
      const stream = at + 32;
      if (b[stream] !== ENTRY_STREAM)
        throw new DiskImgError('corrupt', `The file entry at byte ${at} of ${what} is not followed by a stream extension`, {
          field: 'stream extension',
          value: at,
        });
      const nameLength = b[stream + 3];
      let name = '';
      for (let e = stream + 32; e < setEnd && b[e] === ENTRY_NAME && name.length < nameLength; e += 32) {
        for (let i = 0; i < 15 && name.length < nameLength; i++) name += String.fromCharCode(le16(b, e + 2 + 2 * i));
      }
      if (name.length !== nameLength || name === '')
        throw new DiskImgError(
          'corrupt',
          `The entry set at byte ${at} of ${what} holds ${name.length} of its name's ${nameLength} characters`,
          { field: 'name length', value: nameLength },
        );
      const attributes = le16(b, at + 4);
      const isDir = (attributes & ATTR_DIRECTORY) !== 0;
      const size = le64(b, stream + 24);
      const valid = le64(b, stream + 8);
      if (!Number.isSafeInteger(size) || valid > size)
        throw new DiskImgError('corrupt', `${childPath(dir, name)} has data length ${size} and valid data length ${valid}`, {
          field: 'data length',
          value: size,
        });
      if (out.length >= MAX_DIR_ENTRIES)
        throw new DiskImgError('limit', `${what} has more than ${MAX_DIR_ENTRIES} entries`, { field: 'directory', value: dir.path });
      const cluster = le32(b, stream + 20);
      const mtime = timestamp(le32(b, at + 12), b[at + 21], b[at + 23]);
      out.push({
        path: childPath(dir, name),
        name,
        type: isDir ? 'dir' : 'file',
        size: isDir ? 0 : size,
        mode: isDir ? 0o755 : attributes & ATTR_READ_ONLY ? 0o444 : 0o644,
        ...(mtime ? { mtime } : {}),
        ref: { id: `cluster ${cluster}`, cluster, length: size, valid, contiguous: (b[stream + 1] & 2) !== 0 } as ExfatRef,
      });
      at = setEnd - 32;
    }
    return out;
  }

  async *read(file: FsEntry, start: number, length: number): AsyncGenerator<Uint8Array> {
    yield* this.bytes(file.ref as ExfatRef, start, length, file.path);
  }
}
