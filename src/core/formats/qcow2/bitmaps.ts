/**
 * qemu-img bitmap for qcow2, in place, as block/qcow2-bitmap.c does it — step for step, so the
 * file comes out byte-identical to qemu-img's (its cluster allocation is first-fit and
 * deterministic):
 * 1. the open: every bitmap not yet in use is marked in use in the directory, in place, with the
 *    autoclear bit cleared around that write (update_ext_header_and_dir_in_place);
 * 2. the actions, in the order given, on the bitmaps as loaded; --remove writes at once: a new
 *    directory, the header switched to it, the old directory and the bitmap's clusters freed;
 * 3. the close (qcow2_store_persistent_dirty_bitmaps): every consistent bitmap written anew — its
 *    data (a cluster for each part of the bitmap with a bit set), then its table — then the new directory, a sync, the header (the switch), and only then the old
 *    directory and the old tables freed.
 * A crash anywhere leaves either the old bitmaps or the new ones named by the header, and at
 * worst leaked clusters that `qemu-img check -r leaks` reclaims.
 * Bitmap data is copied one cluster at a time; only the bitmap tables are held (one 8-byte entry
 * per cluster of bitmap, as QEMU holds them, within its BME_MAX_TABLE_SIZE).
 */
import { DiskImgError } from '../../errors.ts';
import type { Storage } from '../../storage/storage.ts';
import type { WritableStorage } from '../../storage/writable.ts';
import { AUTOCLEAR_BITMAPS, hasIncompat, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, type Qcow2Header } from './header.ts';
import { rebuildHeader } from './header-update.ts';
import { MAX_BITMAP_DIRECTORY_BYTES, MAX_BITMAPS, type BitmapsExtension, type Extensions } from './extensions.ts';
import { Refcounts } from './refcounts.ts';

const FLAG_IN_USE = 1;
const FLAG_AUTO = 2;
const TYPE_DIRTY_TRACKING = 1;
/** BME_MAX_TABLE_SIZE, BME_MAX_PHYS_SIZE, BME_MAX/MIN_GRANULARITY_BITS, BME_MAX_NAME_SIZE. */
const MAX_TABLE_ENTRIES = 0x8000000;
const MAX_PHYS_SIZE = 0x20000000;
const MAX_GRANULARITY_BITS = 31;
const MIN_GRANULARITY_BITS = 9;
const MAX_NAME_SIZE = 1023;
const ENTRY_OFFSET_MASK = 0x00fffffffffffe00n;
const ALL_ONES = 1n;

export type BitmapAction =
  | { kind: 'add'; granularity?: number; disabled: boolean }
  | { kind: 'remove' | 'clear' | 'enable' | 'disable' }
  | { kind: 'merge'; source: string };

/** A failed action, worded as qemu-img words it ("Operation add on bitmap b0 failed: …"). */
export class BitmapActionError extends DiskImgError {
  constructor(
    readonly operation: string,
    reason: string,
  ) {
    super('usage', reason, { field: 'bitmap' });
  }
}

/** Where a bitmap's bytes come from: a table in some image, nothing (all clear), or several ORed. */
type BitmapData =
  | { kind: 'table'; file: Storage; clusterSize: number; table: bigint[] }
  | { kind: 'empty' }
  | { kind: 'merged'; parts: BitmapData[] }
  /** A bitmap of another granularity read as this one (hbitmap_sparse_merge: a bit set wherever any source bit's bytes fall). */
  | { kind: 'rescaled'; inner: BitmapData; innerBits: number; outerBits: number; virtualSize: number };

interface DirectoryEntry {
  name: string;
  flags: number;
  granularityBits: number;
  tableOffset: number;
  tableSize: number;
}

interface LiveBitmap {
  name: string;
  granularityBits: number;
  enabled: boolean;
  /** In use when opened: another program's bitmap, left as it is (QEMU's "inconsistent"). */
  inconsistent: boolean;
  data: BitmapData;
}

/** A bitmap source for --merge with -b: the other image's bitmaps, read-only. */
export interface BitmapSourceImage {
  file: Storage;
  header: Qcow2Header;
  extensions: Extensions;
}

const bitmapBytes = (virtualSize: number, granularityBits: number): number =>
  Math.ceil(Math.ceil(virtualSize / 2 ** granularityBits) / 64) * 8;

const corrupt = (message: string, offset?: number): never => {
  throw new DiskImgError('corrupt', message, { field: 'bitmap directory', offset });
};

/** bitmap_list_load and check_dir_entry: the directory, each entry checked. */
async function readDirectory(file: Storage, h: Qcow2Header, ext: BitmapsExtension): Promise<DirectoryEntry[]> {
  const bytes = await file.read(ext.directoryOffset, ext.directorySize);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const entries: DirectoryEntry[] = [];
  let at = 0;
  for (let i = 0; i < ext.count; i++) {
    if (at + 24 > bytes.length) corrupt(`Broken bitmap directory: entry ${i} runs past its end`, ext.directoryOffset + at);
    const nameSize = v.getUint16(at + 18);
    const extra = v.getUint32(at + 20);
    if (extra !== 0)
      corrupt(
        `Broken bitmap directory: entry ${i} has ${extra} bytes of extra data, which QEMU does not support`,
        ext.directoryOffset + at,
      );
    if (at + 24 + nameSize > bytes.length) corrupt(`Broken bitmap directory: entry ${i} runs past its end`, ext.directoryOffset + at);
    const entry: DirectoryEntry = {
      tableOffset: Number(v.getBigUint64(at)),
      tableSize: v.getUint32(at + 8),
      flags: v.getUint32(at + 12),
      granularityBits: bytes[at + 17],
      name: new TextDecoder().decode(bytes.subarray(at + 24, at + 24 + nameSize)),
    };
    const expected = Math.ceil(bitmapBytes(h.virtualSize, entry.granularityBits) / h.clusterSize);
    if (
      bytes[at + 16] !== TYPE_DIRTY_TRACKING ||
      entry.granularityBits > MAX_GRANULARITY_BITS ||
      entry.granularityBits < MIN_GRANULARITY_BITS ||
      nameSize === 0 ||
      nameSize > MAX_NAME_SIZE ||
      entry.tableOffset % h.clusterSize !== 0 ||
      entry.tableSize > MAX_TABLE_ENTRIES ||
      entry.tableSize !== expected
    )
      corrupt(
        `Bitmap '${entry.name}' doesn't satisfy the constraints (type ${bytes[at + 16]}, granularity 2^${entry.granularityBits}, table at ${entry.tableOffset} with ${entry.tableSize} entries where ${expected} are expected)`,
        ext.directoryOffset + at,
      );
    entries.push(entry);
    at = (at + 24 + nameSize + 7) & ~7;
  }
  return entries;
}

function serializeDirectory(entries: readonly DirectoryEntry[]): Uint8Array {
  const size = entries.reduce((sum, e) => sum + ((24 + new TextEncoder().encode(e.name).length + 7) & ~7), 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  let at = 0;
  for (const e of entries) {
    const name = new TextEncoder().encode(e.name);
    v.setBigUint64(at, BigInt(e.tableOffset));
    v.setUint32(at + 8, e.tableSize);
    v.setUint32(at + 12, e.flags);
    out[at + 16] = TYPE_DIRTY_TRACKING;
    out[at + 17] = e.granularityBits;
    v.setUint16(at + 18, name.length);
    out.set(name, at + 24);
    at = (at + 24 + name.length + 7) & ~7;
  }
  return out;
}

async function readTable(file: Storage, entry: DirectoryEntry): Promise<bigint[]> {
  const bytes = await file.read(entry.tableOffset, entry.tableSize * 8);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return Array.from({ length: entry.tableSize }, (_, i) => v.getBigUint64(i * 8));
}

/** Bytes [from, from + length) of a bitmap (within one cluster of the target); null: all clear. */
async function readBits(data: BitmapData, from: number, length: number): Promise<Uint8Array | null> {
  if (data.kind === 'empty') return null;
  if (data.kind === 'rescaled') return readRescaled(data, from, length);
  if (data.kind === 'merged') {
    let out: Uint8Array | null = null;
    for (const part of data.parts) {
      const bits = await readBits(part, from, length);
      if (!bits) continue;
      if (!out) out = bits.slice();
      else for (let i = 0; i < length; i++) out[i] |= bits[i];
    }
    return out;
  }
  const out = new Uint8Array(length);
  let any = false;
  for (let at = from; at < from + length;) {
    const index = Math.floor(at / data.clusterSize);
    const end = Math.min(from + length, (index + 1) * data.clusterSize);
    const entry = data.table[index] ?? 0n;
    const offset = Number(entry & ENTRY_OFFSET_MASK);
    if (offset !== 0) {
      out.set(await data.file.read(offset + (at - index * data.clusterSize), end - at), at - from);
      any = true;
    } else if (entry & ALL_ONES) {
      out.fill(0xff, at - from, end - from);
      any = true;
    }
    at = end;
  }
  return any && out.some((b) => b !== 0) ? out : null;
}

/** Source bytes read per step when rescaling: memory stays bounded whatever the ratio of granularities. */
const RESCALE_CHUNK = 1 << 20;

async function readRescaled(data: Extract<BitmapData, { kind: 'rescaled' }>, from: number, length: number): Promise<Uint8Array | null> {
  const inner = 2 ** data.innerBits;
  const outer = 2 ** data.outerBits;
  const outerTotal = Math.ceil(data.virtualSize / outer);
  const innerTotal = Math.ceil(data.virtualSize / inner);
  const firstOuter = from * 8;
  const endOuter = Math.min((from + length) * 8, outerTotal);
  if (endOuter <= firstOuter) return null;
  const out = new Uint8Array(length);
  let any = false;
  const firstInner = Math.floor((firstOuter * outer) / inner);
  const endInner = Math.min(innerTotal, Math.ceil((endOuter * outer) / inner));
  for (let chunk = Math.floor(firstInner / 8); chunk * 8 < endInner; chunk += RESCALE_CHUNK) {
    const bytes = await readBits(data.inner, chunk, Math.min(RESCALE_CHUNK, Math.ceil(endInner / 8) - chunk));
    if (!bytes) continue;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0) continue;
      for (let bit = 0; bit < 8; bit++) {
        if ((bytes[i] & (1 << bit)) === 0) continue;
        const s = (chunk + i) * 8 + bit;
        if (s < firstInner || s >= endInner) continue;
        const start = s * inner;
        const end = Math.min((s + 1) * inner, data.virtualSize);
        const lo = Math.max(firstOuter, Math.floor(start / outer));
        const hi = Math.min(endOuter - 1, Math.floor((end - 1) / outer));
        for (let t = lo; t <= hi; t++) out[(t - firstOuter) >> 3] |= 1 << ((t - firstOuter) & 7);
        any = any || lo <= hi;
      }
    }
  }
  return any ? out : null;
}

/** Every cluster a bitmap table reaches, and the table itself, freed as free_bitmap_clusters does. */
async function freeBitmapClusters(file: WritableStorage, h: Qcow2Header, refcounts: Refcounts, entry: DirectoryEntry): Promise<void> {
  const cs = h.clusterSize;
  const zeros = new Uint8Array(cs);
  for (const value of await readTable(file, entry)) {
    const offset = Number(value & ENTRY_OFFSET_MASK);
    if (offset === 0) continue;
    // QCOW2_DISCARD_ALWAYS: the data cluster is discarded, and reads as zeros.
    await refcounts.add(offset / cs, 1, -1, () => undefined);
    await file.write(offset, zeros);
  }
  // The table: QCOW2_DISCARD_OTHER, not discarded by default; its bytes stay.
  await refcounts.add(entry.tableOffset / cs, Math.ceil((entry.tableSize * 8) / cs), -1);
}

/** Names the node as qemu-img does in its messages (#blockNNN): the number is QEMU's own counter. */
const NODE = '#block0';

export class Qcow2Bitmaps {
  private constructor(
    private readonly file: WritableStorage,
    private h: Qcow2Header,
    private readonly cluster0: Uint8Array,
    private readonly extensions: Extensions,
    private readonly refcounts: Refcounts,
    /** The directory as it is on disk now. */
    private directory: DirectoryEntry[],
    private live: LiveBitmap[],
  ) {}

  /** Opens the bitmaps for change: step 1 (marks them in use on disk). */
  static async open(file: WritableStorage, h: Qcow2Header, extensions: Extensions): Promise<Qcow2Bitmaps> {
    if (hasIncompat(h, INCOMPAT_CORRUPT)) throw new DiskImgError('unsupported', 'qcow2: Image is corrupt; cannot be opened read/write');
    if (hasIncompat(h, INCOMPAT_DIRTY))
      throw new DiskImgError(
        'unsupported',
        'The image is marked dirty (its refcounts are not up to date): repair it with qemu-img check -r all first',
      );
    const cluster0 = await file.read(0, h.clusterSize);
    const refcounts = await Refcounts.load(file, h);
    const directory = extensions.bitmaps ? await readDirectory(file, h, extensions.bitmaps) : [];
    const live: LiveBitmap[] = [];
    for (const entry of directory) {
      live.push({
        name: entry.name,
        granularityBits: entry.granularityBits,
        enabled: (entry.flags & FLAG_AUTO) !== 0,
        inconsistent: (entry.flags & FLAG_IN_USE) !== 0,
        data: { kind: 'table', file, clusterSize: h.clusterSize, table: await readTable(file, entry) },
      });
    }
    const bitmaps = new Qcow2Bitmaps(file, h, cluster0, extensions, refcounts, directory, live);
    if (directory.some((e) => (e.flags & FLAG_IN_USE) === 0)) await bitmaps.markInUse();
    return bitmaps;
  }

  /** update_ext_header_and_dir_in_place: autoclear off, the directory with in-use flags, autoclear on. */
  private async markInUse(): Promise<void> {
    const ext = this.extensions.bitmaps!;
    for (const entry of this.directory) entry.flags |= FLAG_IN_USE;
    const autoclear = this.h.autoclearFeatures;
    await this.writeHeader({ autoclear: autoclear & ~BigInt(AUTOCLEAR_BITMAPS), bitmaps: ext });
    await this.file.write(ext.directoryOffset, serializeDirectory(this.directory));
    await this.file.sync();
    await this.writeHeader({ autoclear: autoclear & ~BigInt(AUTOCLEAR_BITMAPS), bitmaps: ext });
    await this.writeHeader({ autoclear: autoclear | BigInt(AUTOCLEAR_BITMAPS), bitmaps: ext });
  }

  private currentBitmaps: BitmapsExtension | null | undefined;

  private async writeHeader(changes: { autoclear: bigint; bitmaps: BitmapsExtension | null }): Promise<void> {
    await this.file.write(0, rebuildHeader(this.cluster0, this.h, this.extensions, changes));
    await this.file.sync();
    this.h = { ...this.h, autoclearFeatures: changes.autoclear };
    this.currentBitmaps = changes.bitmaps;
  }

  private find(name: string, operation: string): LiveBitmap {
    const bitmap = this.live.find((b) => b.name === name);
    if (!bitmap) throw new BitmapActionError(operation, `Dirty bitmap '${name}' not found`);
    return bitmap;
  }

  private usable(bitmap: LiveBitmap, operation: string): void {
    if (bitmap.inconsistent)
      throw new BitmapActionError(
        operation,
        `Bitmap '${bitmap.name}' is inconsistent and cannot be used\nTry block-dirty-bitmap-remove to delete this bitmap from disk`,
      );
  }

  /** One action on bitmap `name`; `sources` gives the bitmaps --merge may read (this image's, or -b's). */
  async apply(name: string, action: BitmapAction, source?: BitmapSourceImage): Promise<void> {
    switch (action.kind) {
      case 'add':
        return this.add(name, action.granularity, action.disabled);
      case 'remove':
        return this.remove(name);
      case 'clear': {
        const bitmap = this.find(name, 'clear');
        this.usable(bitmap, 'clear');
        bitmap.data = { kind: 'empty' };
        return;
      }
      case 'enable':
      case 'disable': {
        const bitmap = this.find(name, action.kind);
        this.usable(bitmap, action.kind);
        bitmap.enabled = action.kind === 'enable';
        return;
      }
      case 'merge':
        return this.merge(name, action.source, source);
    }
  }

  private add(name: string, granularity: number | undefined, disabled: boolean): void {
    const fail = (reason: string): never => {
      throw new BitmapActionError('add', reason);
    };
    if (name === '') fail('Bitmap name cannot be empty');
    if (granularity !== undefined && (granularity < 512 || (granularity & (granularity - 1)) !== 0))
      fail('Granularity must be power of 2 and at least 512');
    const bytes = granularity ?? Math.max(4096, this.h.clusterSize);
    const bits = Math.log2(bytes);
    const persistent = (reason: string) => fail(`Can't make bitmap '${name}' persistent in '${NODE}': ${reason}`);
    if (this.h.version < 3) persistent('Cannot store dirty bitmaps in qcow2 v2 files');
    if (bits > MAX_GRANULARITY_BITS) persistent(`Granularity exceeds maximum (${2 ** MAX_GRANULARITY_BITS} bytes)`);
    if (new TextEncoder().encode(name).length > MAX_NAME_SIZE) persistent(`Name length exceeds maximum (${MAX_NAME_SIZE} characters)`);
    const size = BigInt(this.h.virtualSize);
    if (size > BigInt(MAX_PHYS_SIZE) << BigInt(bits) || size > (BigInt(MAX_TABLE_ENTRIES) * BigInt(this.h.clusterSize)) << BigInt(bits))
      persistent('Too much space will be occupied by the bitmap. Use larger granularity');
    const ext = this.currentBitmaps === undefined ? this.extensions.bitmaps : this.currentBitmaps;
    if (ext) {
      if (ext.count >= MAX_BITMAPS) persistent('Maximum number of persistent bitmaps is already reached');
      if (ext.directorySize + ((24 + new TextEncoder().encode(name).length + 7) & ~7) > MAX_BITMAP_DIRECTORY_BYTES)
        persistent('Not enough space in the bitmap directory');
    }
    if (this.live.some((b) => b.name === name)) fail(`Bitmap already exists: ${name}`);
    // QEMU keeps its bitmaps newest first; what matters here is only the order of the directory.
    this.live.push({ name, granularityBits: bits, enabled: !disabled, inconsistent: false, data: { kind: 'empty' } });
  }

  private merge(name: string, sourceName: string, sourceImage?: BitmapSourceImage): Promise<void> {
    return (async () => {
      const target = this.find(name, 'merge');
      let source: LiveBitmap | undefined;
      let sourceSize = this.h.virtualSize;
      if (sourceImage) {
        const ext = sourceImage.extensions.bitmaps;
        const entries = ext ? await readDirectory(sourceImage.file, sourceImage.header, ext) : [];
        const entry = entries.find((e) => e.name === sourceName);
        if (entry) {
          source = {
            name: entry.name,
            granularityBits: entry.granularityBits,
            enabled: (entry.flags & FLAG_AUTO) !== 0,
            inconsistent: (entry.flags & FLAG_IN_USE) !== 0,
            data: {
              kind: 'table',
              file: sourceImage.file,
              clusterSize: sourceImage.header.clusterSize,
              table: await readTable(sourceImage.file, entry),
            },
          };
        }
        sourceSize = sourceImage.header.virtualSize;
      } else source = this.live.find((b) => b.name === sourceName);
      if (!source) throw new BitmapActionError('merge', `Dirty bitmap '${sourceName}' not found`);
      this.usable(target, 'merge');
      this.usable(source, 'merge');
      if (sourceSize !== this.h.virtualSize) throw new BitmapActionError('merge', "Bitmaps are incompatible and can't be merged");
      const data: BitmapData =
        source.granularityBits === target.granularityBits
          ? source.data
          : {
              kind: 'rescaled',
              inner: source.data,
              innerBits: source.granularityBits,
              outerBits: target.granularityBits,
              virtualSize: this.h.virtualSize,
            };
      if (source !== target) target.data = { kind: 'merged', parts: [target.data, data] };
    })();
  }

  /** qcow2_co_remove_persistent_dirty_bitmap: written at once. */
  private async remove(name: string): Promise<void> {
    const bitmap = this.find(name, 'remove');
    const uses = (data: BitmapData, table: bigint[]): boolean =>
      (data.kind === 'table' && data.table === table) ||
      (data.kind === 'merged' && data.parts.some((p) => uses(p, table))) ||
      (data.kind === 'rescaled' && uses(data.inner, table));
    if (bitmap.data.kind === 'table') {
      const table = bitmap.data.table;
      if (this.live.some((b) => b !== bitmap && uses(b.data, table)))
        throw new BitmapActionError(
          'remove',
          `diskimg cannot remove '${name}' after merging it into another bitmap in the same command: run two commands`,
        );
    }
    this.live = this.live.filter((b) => b !== bitmap);
    const index = this.directory.findIndex((e) => e.name === name);
    if (index < 0) return; // only in memory: nothing on disk to change
    const [gone] = this.directory.splice(index, 1);
    await this.switchDirectory(this.directory);
    await freeBitmapClusters(this.file, this.h, this.refcounts, gone);
    await this.file.sync();
  }

  /** update_ext_header_and_dir: the new directory (if any) written, the header switched, the old one freed. */
  private async switchDirectory(entries: DirectoryEntry[]): Promise<void> {
    const cs = this.h.clusterSize;
    const old = this.currentBitmaps === undefined ? this.extensions.bitmaps : this.currentBitmaps;
    let next: BitmapsExtension | null = null;
    if (entries.length > 0) {
      const bytes = serializeDirectory(entries);
      const count = Math.ceil(bytes.length / cs);
      const first = await this.refcounts.allocate(count);
      await this.file.write(first * cs, bytes);
      await this.file.sync();
      await this.refcounts.add(first, count, 1);
      await this.file.sync();
      next = { count: entries.length, directorySize: bytes.length, directoryOffset: first * cs };
    }
    const autoclear = next ? this.h.autoclearFeatures | BigInt(AUTOCLEAR_BITMAPS) : this.h.autoclearFeatures & ~BigInt(AUTOCLEAR_BITMAPS);
    await this.writeHeader({ autoclear, bitmaps: next });
    if (old) {
      const first = old.directoryOffset / cs;
      await this.refcounts.add(first, Math.ceil(old.directorySize / cs), -1);
      await this.file.sync();
    }
  }

  /** store_bitmap: a cluster for each part of the bitmap with a bit set, written, then the table's clusters and the table. */
  private async store(bitmap: LiveBitmap): Promise<DirectoryEntry> {
    const cs = this.h.clusterSize;
    const total = bitmapBytes(this.h.virtualSize, bitmap.granularityBits);
    const tableSize = Math.ceil(total / cs);
    const table = new Uint8Array(tableSize * 8);
    const view = new DataView(table.buffer);
    for (let i = 0; i < tableSize; i++) {
      const length = Math.min(cs, total - i * cs);
      const bits = await readBits(bitmap.data, i * cs, length);
      if (!bits) continue;
      const cluster = await this.refcounts.allocate(1);
      await this.refcounts.add(cluster, 1, 1);
      const out = new Uint8Array(cs);
      out.set(bits);
      await this.file.write(cluster * cs, out);
      view.setBigUint64(i * 8, BigInt(cluster * cs));
    }
    // store_bitmap_data first, then the table's own clusters (qcow2_alloc_clusters), then the table.
    const tableClusters = Math.ceil((tableSize * 8) / cs);
    const tableFirst = await this.refcounts.allocate(tableClusters);
    await this.refcounts.add(tableFirst, tableClusters, 1);
    await this.file.write(tableFirst * cs, table);
    return {
      name: bitmap.name,
      flags: bitmap.enabled ? FLAG_AUTO : 0,
      granularityBits: bitmap.granularityBits,
      tableOffset: tableFirst * cs,
      tableSize,
    };
  }

  /** Step 3, qcow2_store_persistent_dirty_bitmaps: every consistent bitmap written anew. */
  async close(): Promise<void> {
    if (!this.live.some((b) => !b.inconsistent)) return;
    const dropped: DirectoryEntry[] = [];
    const entries: DirectoryEntry[] = [];
    // The directory's order, then the new bitmap(s) after it.
    const ordered = [
      ...this.directory.map((e) => this.live.find((b) => b.name === e.name)!).filter(Boolean),
      ...this.live.filter((b) => !this.directory.some((e) => e.name === b.name)),
    ];
    for (const bitmap of ordered) {
      const onDisk = this.directory.find((e) => e.name === bitmap.name);
      if (bitmap.inconsistent) {
        entries.push(onDisk!);
        continue;
      }
      if (onDisk) dropped.push(onDisk);
      entries.push(await this.store(bitmap));
    }
    await this.file.sync();
    await this.switchDirectory(entries);
    for (const entry of dropped) await freeBitmapClusters(this.file, this.h, this.refcounts, entry);
    await this.file.sync();
    this.directory = entries;
  }
}
