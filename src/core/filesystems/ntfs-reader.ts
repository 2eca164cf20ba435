/**
 * NTFS browsed read-only (the layout ntfs-3g and the Linux ntfs3 driver read): MFT records with
 * their update-sequence fixups, attribute lists, resident and non-resident attributes, runlists
 * (sparse runs read as zeros), $I30 indexes read linearly (the root's entries, then every INDX
 * block in use), long names shown (DOS 8.3 aliases left out), LZNT1-compressed files, and
 * symlinks: ntfs-3g's Interix ones, and symlink and junction reparse points. System files ($MFT, $Bitmap…) are not listed.
 */
import { DiskImgError } from '../errors.ts';
import { le16, le32, le64 } from '../partitions/bytes.ts';
import type { ByteSource } from '../partitions/source.ts';
import { applyFixups, ntfsGeometry, type NtfsGeometry } from './ntfs.ts';
import { childPath, MAX_DIR_ENTRIES, READ_CHUNK, readChecked, type FsEntry, type FsReader } from './tree.ts';

const AT_STANDARD_INFORMATION = 0x10;
const AT_ATTRIBUTE_LIST = 0x20;
const AT_DATA = 0x80;
const AT_INDEX_ROOT = 0x90;
const AT_INDEX_ALLOCATION = 0xa0;
const AT_BITMAP = 0xb0;
const AT_REPARSE_POINT = 0xc0;
const AT_END = 0xffffffff;
const ROOT_RECORD = 5;
/** Records below this are the file system's own ($MFT … $Extend and reserved ones). */
const FIRST_USER_RECORD = 24;
const REPARSE_SYMLINK = 0xa000000c;
const REPARSE_MOUNT_POINT = 0xa0000003;
const FILE_ATTRIBUTE_SYSTEM = 0x4;
/** $STANDARD_INFORMATION's file attribute bits, named as ntfsinfo (and Windows' FILE_ATTRIBUTE_*) names them. */
const FILE_ATTRIBUTE_NAMES: Array<[number, string]> = [
  [0x1, 'READONLY'],
  [0x2, 'HIDDEN'],
  [0x4, 'SYSTEM'],
  [0x10, 'DIRECTORY'],
  [0x20, 'ARCHIVE'],
  [0x40, 'DEVICE'],
  [0x80, 'NORMAL'],
  [0x100, 'TEMPORARY'],
  [0x200, 'SPARSE_FILE'],
  [0x400, 'REPARSE_POINT'],
  [0x800, 'COMPRESSED'],
  [0x1000, 'OFFLINE'],
  [0x2000, 'NOT_CONTENT_INDEXED'],
  [0x4000, 'ENCRYPTED'],
];
const FLAG_COMPRESSED = 0x0001;
const FLAG_ENCRYPTED = 0x4000;
/** Runs one attribute may have, and attribute-list entries one file may have: far beyond real files. */
const MAX_RUNS = 1_000_000;
const MAX_ATTRIBUTES = 4096;
/** Attributes read whole (index roots, attribute lists, reparse data, index bitmaps) stay below this. */
const MAX_SMALL_ATTRIBUTE = 16 << 20;

interface NtfsRef {
  id: string;
  record: number;
}

interface Run {
  vcn: number;
  /** -1: a sparse run. */
  lcn: number;
  count: number;
}

interface Attribute {
  type: number;
  name: string;
  flags: number;
  resident: boolean;
  /** Resident: the value. */
  value?: Uint8Array;
  /** Non-resident. */
  startVcn: number;
  runs: Run[];
  size: number;
  initialized: number;
  compressionUnit: number;
}

const filetime = (b: Uint8Array, at: number): string | undefined => {
  const ticks = le64(b, at);
  if (!ticks) return undefined;
  const ms = Math.floor(ticks / 10_000) - 11_644_473_600_000;
  return new Date(ms).toISOString().replace('.000Z', 'Z');
};

const utf16 = (b: Uint8Array, at: number, chars: number) => {
  let out = '';
  for (let i = 0; i < chars; i++) out += String.fromCharCode(le16(b, at + 2 * i));
  return out;
};

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** LZNT1: 4 KiB chunks, each stored or compressed as flag-byte groups of literals and back-references. */
export function lznt1(input: Uint8Array, output: Uint8Array, where: string): number {
  let ip = 0;
  let op = 0;
  const bad = (why: string): never => {
    throw new DiskImgError('corrupt', `The LZNT1-compressed data of ${where} is damaged: ${why}`, { field: 'compressed data' });
  };
  while (ip + 2 <= input.length && op < output.length) {
    const header = le16(input, ip);
    if (header === 0) break;
    const size = (header & 0xfff) + 1;
    const chunkEnd = ip + 2 + size;
    if (chunkEnd > input.length) bad('a chunk runs past the compressed data');
    ip += 2;
    const chunkStart = op;
    if (!(header & 0x8000)) {
      const take = Math.min(size, output.length - op);
      output.set(input.subarray(ip, ip + take), op);
      op += take;
      ip = chunkEnd;
      continue;
    }
    while (ip < chunkEnd && op < output.length) {
      const flags = input[ip++];
      for (let bit = 0; bit < 8 && ip < chunkEnd && op < output.length; bit++) {
        if (!(flags & (1 << bit))) {
          output[op++] = input[ip++];
          continue;
        }
        if (ip + 2 > chunkEnd) bad('a back-reference is cut off');
        const token = le16(input, ip);
        ip += 2;
        let lengthBits = 12;
        for (let p = op - chunkStart - 1; p >= 0x10; p >>= 1) lengthBits--;
        const offset = (token >> lengthBits) + 1;
        const length = (token & ((1 << lengthBits) - 1)) + 3;
        if (offset > op - chunkStart) bad(`a back-reference reaches ${offset} bytes back, before its chunk`);
        for (let i = 0; i < length && op < output.length; i++, op++) output[op] = output[op - offset];
      }
    }
    ip = chunkEnd;
  }
  return op;
}

export class NtfsReader implements FsReader {
  readonly warnings: string[] = [];
  readonly type = 'ntfs';
  private mftRuns: Run[] = [];
  private readonly clusters: number;

  private constructor(
    private readonly source: ByteSource,
    private readonly g: NtfsGeometry,
    private readonly indexRecordSize: number,
  ) {
    this.clusters = Math.floor((g.sectors * g.sectorSize) / g.clusterSize);
  }

  static async open(source: ByteSource): Promise<NtfsReader> {
    const bs = await readChecked(source, 0, 512, 'The NTFS boot sector');
    const g = ntfsGeometry(bs);
    if (!g) throw new DiskImgError('invalid-format', 'Not an NTFS boot sector', { field: 'boot sector', offset: 0 });
    if (g.sectors * g.sectorSize > source.size + g.sectorSize)
      throw new DiskImgError(
        'corrupt',
        `The NTFS boot sector says the volume has ${g.sectors * g.sectorSize} bytes, but its partition has only ${source.size}`,
        { field: 'total sectors', offset: 40, value: g.sectors },
      );
    const perIndex = (bs[68] << 24) >> 24;
    const indexRecordSize = perIndex > 0 ? perIndex * g.clusterSize : 2 ** -perIndex;
    if (indexRecordSize < 512 || indexRecordSize > 65536 || (indexRecordSize & (indexRecordSize - 1)) !== 0)
      throw new DiskImgError('corrupt', `The NTFS index record size ${indexRecordSize} is not a power of two from 512 to 65536`, {
        field: 'clusters per index record',
        offset: 68,
        value: bs[68],
      });
    const reader = new NtfsReader(source, g, indexRecordSize);
    // $MFT's own record (at the boot sector's MFT address) says where the rest of the MFT lies.
    const first = await reader.recordAt(g.mftOffset, 0);
    const data = reader.attributes(first, 0).find((a) => a.type === AT_DATA && a.name === '' && !a.resident);
    if (!data)
      throw new DiskImgError('corrupt', 'MFT record 0 ($MFT) has no non-resident $DATA attribute', { field: '$MFT', offset: g.mftOffset });
    reader.mftRuns = data.runs;
    // A fragmented MFT keeps the rest of its runlist in extension records its attribute list names.
    if (reader.attributes(first, 0).some((a) => a.type === AT_ATTRIBUTE_LIST)) {
      const whole = (await reader.allAttributes(0, first)).find((a) => a.type === AT_DATA && a.name === '' && !a.resident);
      if (whole) reader.mftRuns = whole.runs;
    }
    return reader;
  }

  root(): FsEntry {
    return { path: '/', name: '', type: 'dir', size: 0, ref: { id: `record ${ROOT_RECORD}`, record: ROOT_RECORD } as NtfsRef };
  }

  private async recordAt(offset: number, number: number): Promise<Uint8Array> {
    const record = await readChecked(this.source, offset, this.g.mftRecordSize, `MFT record ${number}`);
    const magic = String.fromCharCode(...record.subarray(0, 4));
    if (magic !== 'FILE')
      throw new DiskImgError('corrupt', `MFT record ${number} has no FILE signature (found ${JSON.stringify(magic)})`, {
        field: 'MFT record',
        offset,
        value: number,
      });
    if (!applyFixups(record))
      throw new DiskImgError('corrupt', `MFT record ${number} fails its update-sequence check (a torn write)`, {
        field: 'MFT record',
        offset,
        value: number,
      });
    return record;
  }

  /** Where byte `offset` of a run-mapped attribute lies on the volume, or -1 in a sparse run. */
  private locate(runs: Run[], offset: number): number {
    const vcn = Math.floor(offset / this.g.clusterSize);
    for (const run of runs) {
      if (vcn >= run.vcn && vcn < run.vcn + run.count)
        return run.lcn < 0 ? -1 : (run.lcn + vcn - run.vcn) * this.g.clusterSize + (offset % this.g.clusterSize);
    }
    return -2;
  }

  private async record(number: number): Promise<Uint8Array> {
    const at = this.locate(this.mftRuns, number * this.g.mftRecordSize);
    if (at < 0) throw new DiskImgError('corrupt', `MFT record ${number} lies outside the MFT`, { field: 'MFT record', value: number });
    const record = await this.recordAt(at, number);
    if (!(le16(record, 0x16) & 1))
      throw new DiskImgError('corrupt', `MFT record ${number} is not in use, but a folder lists it`, {
        field: 'MFT record',
        value: number,
      });
    return record;
  }

  private runlist(b: Uint8Array, at: number, end: number, startVcn: number, where: string): Run[] {
    const runs: Run[] = [];
    let vcn = startVcn;
    let lcn = 0;
    while (at < end && b[at] !== 0) {
      const lengthSize = b[at] & 0xf;
      const offsetSize = b[at] >> 4;
      if (lengthSize === 0 || lengthSize > 8 || offsetSize > 8 || at + 1 + lengthSize + offsetSize > end)
        throw new DiskImgError('corrupt', `The runlist of ${where} is damaged at byte ${at} (header 0x${b[at].toString(16)})`, {
          field: 'runlist',
          value: b[at],
        });
      let count = 0;
      for (let i = lengthSize - 1; i >= 0; i--) count = count * 256 + b[at + 1 + i];
      let delta = 0;
      for (let i = offsetSize - 1; i >= 0; i--) delta = delta * 256 + b[at + 1 + lengthSize + i];
      if (offsetSize > 0 && b[at + lengthSize + offsetSize] & 0x80) delta -= 2 ** (8 * offsetSize);
      at += 1 + lengthSize + offsetSize;
      if (!Number.isSafeInteger(count) || count <= 0)
        throw new DiskImgError('corrupt', `The runlist of ${where} has a run of ${count} clusters`, { field: 'runlist', value: count });
      if (offsetSize === 0) runs.push({ vcn, lcn: -1, count });
      else {
        lcn += delta;
        if (lcn < 0 || lcn + count > this.clusters)
          throw new DiskImgError(
            'corrupt',
            `A run of ${where} covers clusters ${lcn}–${lcn + count - 1}, beyond the end of the volume (${this.clusters} clusters)`,
            { field: 'runlist', value: lcn },
          );
        runs.push({ vcn, lcn, count });
      }
      vcn += count;
      if (runs.length > MAX_RUNS)
        throw new DiskImgError('limit', `The runlist of ${where} has more than ${MAX_RUNS} runs`, { field: 'runlist' });
    }
    return runs;
  }

  /** The attributes stored in one record. */
  private attributes(record: Uint8Array, number: number): Attribute[] {
    const out: Attribute[] = [];
    let at = le16(record, 0x14);
    const used = Math.min(le32(record, 0x18), record.length);
    for (let n = 0; at + 16 <= used; n++) {
      const type = le32(record, at);
      if (type === AT_END) break;
      const length = le32(record, at + 4);
      if (length < 16 || at + length > used || n > 512)
        throw new DiskImgError(
          'corrupt',
          `An attribute of MFT record ${number} at byte ${at} has length ${length}, which does not fit the record`,
          { field: 'attribute', value: number },
        );
      const a = record.subarray(at, at + length);
      const nameLength = a[9];
      const name = utf16(a, le16(a, 10), Math.min(nameLength, (length - le16(a, 10)) >> 1));
      const flags = le16(a, 12);
      if (a[8] === 0) {
        const valueLength = le32(a, 16);
        const valueAt = le16(a, 20);
        if (valueAt + valueLength > length)
          throw new DiskImgError('corrupt', `A resident attribute of MFT record ${number} runs past its end`, {
            field: 'attribute',
            value: number,
          });
        out.push({
          type,
          name,
          flags,
          resident: true,
          value: a.subarray(valueAt, valueAt + valueLength),
          startVcn: 0,
          runs: [],
          size: valueLength,
          initialized: valueLength,
          compressionUnit: 0,
        });
      } else {
        if (length < 64)
          throw new DiskImgError('corrupt', `A non-resident attribute of MFT record ${number} is only ${length} bytes`, {
            field: 'attribute',
            value: number,
          });
        const startVcn = le64(a, 16);
        const runsAt = le16(a, 32);
        out.push({
          type,
          name,
          flags,
          resident: false,
          startVcn,
          runs: this.runlist(a, runsAt, length, startVcn, `MFT record ${number}`),
          size: le64(a, 48),
          initialized: le64(a, 56),
          compressionUnit: a[34],
        });
      }
      at += length;
    }
    return out;
  }

  /** Every attribute of a file, following its attribute list into other records; non-resident pieces joined by VCN. */
  private async allAttributes(number: number, record?: Uint8Array): Promise<Attribute[]> {
    const own = this.attributes(record ?? (await this.record(number)), number);
    const list = own.find((a) => a.type === AT_ATTRIBUTE_LIST);
    if (!list) return own;
    const bytes = await this.small(list, `the attribute list of MFT record ${number}`);
    const records = new Set<number>();
    for (let at = 0; at + 26 <= bytes.length;) {
      const length = le16(bytes, at + 4);
      if (length < 26)
        throw new DiskImgError('corrupt', `The attribute list of MFT record ${number} has an entry of ${length} bytes`, {
          field: 'attribute list',
          value: number,
        });
      const ref = le32(bytes, at + 16) + le16(bytes, at + 20) * 0x1_0000_0000;
      if (ref !== number) records.add(ref);
      if (records.size > MAX_ATTRIBUTES)
        throw new DiskImgError('limit', `MFT record ${number} spreads over more than ${MAX_ATTRIBUTES} records`, {
          field: 'attribute list',
          value: number,
        });
      at += length;
    }
    const all = own.filter((a) => a.type !== AT_ATTRIBUTE_LIST);
    for (const other of records) {
      const extension = await this.record(other);
      all.push(...this.attributes(extension, other));
    }
    // Pieces of one non-resident attribute (same type and name) become one, runs in VCN order.
    const merged: Attribute[] = [];
    for (const a of all.sort((x, y) => x.startVcn - y.startVcn)) {
      const earlier = !a.resident && a.startVcn > 0 ? merged.find((m) => !m.resident && m.type === a.type && m.name === a.name) : undefined;
      if (earlier) earlier.runs.push(...a.runs);
      else merged.push({ ...a, runs: [...a.runs] });
    }
    return merged;
  }

  /** A whole small attribute (an index root, a list, a bitmap) in memory. */
  private async small(a: Attribute, what: string): Promise<Uint8Array> {
    if (a.resident) return a.value!;
    if (a.size > MAX_SMALL_ATTRIBUTE)
      throw new DiskImgError('limit', `${what} is ${a.size} bytes, more than ${MAX_SMALL_ATTRIBUTE}`, {
        field: 'attribute size',
        value: a.size,
      });
    const out = new Uint8Array(a.size);
    let at = 0;
    for await (const chunk of this.stream(a, 0, a.size, what)) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }

  /** Bytes of a non-resident attribute (or a resident one), holes and the uninitialized tail as zeros, LZNT1 undone. */
  private async *stream(a: Attribute, start: number, length: number, what: string): AsyncGenerator<Uint8Array> {
    if (a.resident) {
      yield a.value!.slice(start, start + length);
      return;
    }
    if (a.flags & FLAG_ENCRYPTED)
      throw new DiskImgError('unsupported', `${what} is encrypted (EFS)`, { field: 'attribute flags', value: a.flags });
    if (a.flags & FLAG_COMPRESSED && a.compressionUnit > 0) {
      yield* this.compressed(a, start, length, what);
      return;
    }
    const cs = this.g.clusterSize;
    const end = start + length;
    let at = start;
    for (const run of a.runs) {
      const runStart = run.vcn * cs;
      const runEnd = runStart + run.count * cs;
      if (runEnd <= at) continue;
      if (runStart > at) break; // a gap in the runlist: left for the check below
      const to = Math.min(runEnd, end);
      while (at < to) {
        const size = Math.min(READ_CHUNK, to - at);
        if (run.lcn < 0 || at >= a.initialized) yield new Uint8Array(size);
        else {
          const bytes = await readChecked(this.source, run.lcn * cs + (at - runStart), size, `The data of ${what}`);
          if (at + size > a.initialized) bytes.fill(0, a.initialized - at);
          yield bytes;
        }
        at += size;
      }
      if (at >= end) return;
    }
    if (at < end)
      throw new DiskImgError('corrupt', `The runlist of ${what} ends at byte ${at}, before its size ${a.size}`, {
        field: 'runlist',
        value: at,
      });
  }

  private async *compressed(a: Attribute, start: number, length: number, what: string): AsyncGenerator<Uint8Array> {
    const cs = this.g.clusterSize;
    const unitClusters = 2 ** a.compressionUnit;
    const unitBytes = unitClusters * cs;
    if (a.compressionUnit > 8)
      throw new DiskImgError('corrupt', `${what} has a compression unit of 2^${a.compressionUnit} clusters`, {
        field: 'compression unit',
        value: a.compressionUnit,
      });
    const end = start + length;
    for (let unit = Math.floor(start / unitBytes); unit * unitBytes < end; unit++) {
      // The unit's clusters: all allocated → stored as is; some → LZNT1; none → zeros.
      const pieces: Array<{ lcn: number; count: number }> = [];
      let real = 0;
      for (const run of a.runs) {
        const from = Math.max(run.vcn, unit * unitClusters);
        const to = Math.min(run.vcn + run.count, (unit + 1) * unitClusters);
        if (from >= to) continue;
        if (run.lcn >= 0) {
          pieces.push({ lcn: run.lcn + from - run.vcn, count: to - from });
          real += to - from;
        }
      }
      let bytes: Uint8Array;
      if (real === 0) bytes = new Uint8Array(unitBytes);
      else {
        const stored = new Uint8Array(real * cs);
        let at = 0;
        for (const p of pieces) {
          stored.set(await readChecked(this.source, p.lcn * cs, p.count * cs, `The data of ${what}`), at);
          at += p.count * cs;
        }
        if (real >= unitClusters) bytes = stored;
        else {
          bytes = new Uint8Array(unitBytes);
          lznt1(stored, bytes, what);
        }
      }
      const unitStart = unit * unitBytes;
      const from = Math.max(start, unitStart) - unitStart;
      const to = Math.min(end, unitStart + unitBytes) - unitStart;
      yield bytes.subarray(from, to);
    }
  }

  /** The (record, name) pairs of a folder's $I30 index: the root's entries, then every INDX block in use. */
  async list(dir: FsEntry): Promise<FsEntry[]> {
    const number = (dir.ref as NtfsRef).record;
    const attributes = await this.allAttributes(number);
    const root = attributes.find((a) => a.type === AT_INDEX_ROOT && a.name === '$I30');
    if (!root) throw new DiskImgError('corrupt', `${dir.path} (MFT record ${number}) has no $I30 index`, { field: 'index', value: number });
    const seen = new Set<string>();
    const found: Array<{ record: number; name: string }> = [];
    const where = `the index of ${dir.path} (MFT record ${number})`;
    const take = (b: Uint8Array, header: number) => {
      let at = header + le32(b, header);
      const end = Math.min(b.length, header + le32(b, header + 4));
      while (at + 16 <= end) {
        const length = le16(b, at + 8);
        const flags = le32(b, at + 12);
        if (flags & 2) break;
        if (length < 16 || at + length > end)
          throw new DiskImgError('corrupt', `An entry of ${where} at byte ${at} has length ${length}, which does not fit`, {
            field: 'index entry',
            value: length,
          });
        const keyLength = le16(b, at + 10);
        if (keyLength >= 66 && 16 + keyLength <= length) {
          const key = b.subarray(at + 16, at + 16 + keyLength);
          const namespace = key[65];
          const name = utf16(key, 66, Math.min(key[64], (keyLength - 66) >> 1));
          const record = le32(b, at) + le16(b, at + 4) * 0x1_0000_0000;
          // DOS (8.3) aliases are left out: the Win32 or POSIX name of the same file is there too.
          if (namespace !== 2 && !(number === ROOT_RECORD && record < FIRST_USER_RECORD) && !seen.has(`${record}/${name}`)) {
            seen.add(`${record}/${name}`);
            if (found.length >= MAX_DIR_ENTRIES)
              throw new DiskImgError('limit', `${dir.path} has more than ${MAX_DIR_ENTRIES} entries`, {
                field: 'directory',
                value: dir.path,
              });
            found.push({ record, name });
          }
        }
        at += length;
      }
    };
    const rootValue = await this.small(root, where);
    take(rootValue, 16);
    const allocation = attributes.find((a) => a.type === AT_INDEX_ALLOCATION && a.name === '$I30');
    if (allocation) {
      const bitmapAttribute = attributes.find((a) => a.type === AT_BITMAP && a.name === '$I30');
      const bitmap = bitmapAttribute ? await this.small(bitmapAttribute, `the index bitmap of ${dir.path}`) : null;
      const blocks = Math.floor(allocation.size / this.indexRecordSize);
      for (let i = 0; i < blocks; i++) {
        if (bitmap && !(bitmap[i >> 3] & (1 << (i & 7)))) continue;
        const parts: Uint8Array[] = [];
        for await (const chunk of this.stream(allocation, i * this.indexRecordSize, this.indexRecordSize, where)) parts.push(chunk);
        const block = parts.length === 1 ? new Uint8Array(parts[0]) : concat(parts);
        if (String.fromCharCode(...block.subarray(0, 4)) !== 'INDX' || !applyFixups(block))
          throw new DiskImgError('corrupt', `Index block ${i} of ${where} has no INDX signature or fails its update-sequence check`, {
            field: 'index block',
            value: i,
          });
        take(block, 0x18);
      }
    }
    const out: FsEntry[] = [];
    for (const { record, name } of found) out.push(await this.entryFor(dir, name, record));
    return out;
  }

  private async entryFor(dir: FsEntry, name: string, number: number): Promise<FsEntry> {
    const record = await this.record(number);
    const attributes = await this.allAttributes(number, record);
    const isDir = (le16(record, 0x16) & 2) !== 0;
    const info = attributes.find((a) => a.type === AT_STANDARD_INFORMATION)?.value;
    const data = attributes.find((a) => a.type === AT_DATA && a.name === '');
    const entry: FsEntry = {
      path: childPath(dir, name),
      name,
      type: isDir ? 'dir' : 'file',
      size: isDir ? 0 : (data?.size ?? 0),
      nlink: le16(record, 0x12),
      ref: { id: `record ${number}`, record: number } as NtfsRef,
    };
    const mtime = info && info.length >= 16 ? filetime(info, 8) : undefined;
    if (mtime) entry.mtime = mtime;
    if (info && info.length >= 36) {
      const flags = le32(info, 32);
      const names = FILE_ATTRIBUTE_NAMES.filter(([bit]) => flags & bit).map(([, name]) => name);
      if (names.length > 0) entry.attributes = names;
    }
    const streams = attributes
      .filter((a) => a.type === AT_DATA && a.name !== '' && !(a.startVcn > 0))
      .map((a) => ({ name: a.name, size: a.size }));
    if (streams.length > 0) entry.streams = streams;
    // ntfs-3g's default symlink (Interix, as Services for Unix made them): a system file holding "IntxLNK\1" and the target in UTF-16.
    if (
      !isDir &&
      data &&
      info &&
      info.length >= 36 &&
      le32(info, 32) & FILE_ATTRIBUTE_SYSTEM &&
      data.size > 8 &&
      data.size <= 8 + 2 * 4096
    ) {
      const bytes = await this.small(data, entry.path);
      if (String.fromCharCode(...bytes.subarray(0, 8)) === 'IntxLNK\u0001') {
        entry.type = 'symlink';
        entry.target = utf16(bytes, 8, (bytes.length - 8) >> 1);
        entry.size = new TextEncoder().encode(entry.target).length;
        return entry;
      }
    }
    const reparse = attributes.find((a) => a.type === AT_REPARSE_POINT);
    if (reparse) {
      const r = await this.small(reparse, `the reparse point of ${entry.path}`);
      const tag = le32(r, 0);
      if ((tag === REPARSE_SYMLINK || tag === REPARSE_MOUNT_POINT) && r.length >= 16) {
        const body = tag === REPARSE_SYMLINK ? 20 : 16;
        const printAt = body + le16(r, 12);
        const printLength = le16(r, 14);
        const substituteAt = body + le16(r, 8);
        const substituteLength = le16(r, 10);
        const [at, bytes] = printLength > 0 ? [printAt, printLength] : [substituteAt, substituteLength];
        if (at + bytes > r.length)
          throw new DiskImgError('corrupt', `The reparse point of ${entry.path} names a target past its end`, {
            field: 'reparse point',
            value: number,
          });
        let target = utf16(r, at, bytes >> 1).replace(/\\/g, '/');
        if (tag === REPARSE_MOUNT_POINT || !(le32(r, 16) & 1)) target = target.replace(/^\/\?\?\//, '');
        entry.type = 'symlink';
        entry.size = new TextEncoder().encode(target).length;
        entry.target = target;
      }
    }
    return entry;
  }

  async *read(file: FsEntry, start: number, length: number): AsyncGenerator<Uint8Array> {
    const number = (file.ref as NtfsRef).record;
    const data = (await this.allAttributes(number)).find((a) => a.type === AT_DATA && a.name === '');
    if (!data)
      throw new DiskImgError('corrupt', `${file.path} (MFT record ${number}) has no $DATA attribute`, { field: '$DATA', value: number });
    if (data.size < start + length)
      throw new DiskImgError('corrupt', `${file.path} holds ${data.size} bytes, fewer than asked for`, { field: '$DATA', value: number });
    yield* this.stream(data, start, length, file.path);
  }
}
