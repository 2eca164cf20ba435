/**
 * A file changed without being written: reads come from the original, with the changes made so far
 * laid over them. The page runs the in-place verbs (snapshot create and delete) against this, then
 * streams the result into a new file front to back — so the input stays untouched and any output
 * works, a download stream included. Only the changes are held: a verb that changes metadata
 * holds its tables (an L1 copy, the L2 tables whose flags it rewrites, refcount blocks), and a run
 * of zeros (a discarded cluster) is held as its length alone. Past `limit` bytes held, writing fails
 * with a clear error instead of eating the tab's memory.
 */
import { DiskImgError } from '../errors.ts';
import { readInto, type Storage } from './storage.ts';
import type { WritableStorage } from './writable.ts';

/** Bytes at [start, end): `bytes` null for zeros. Patches never overlap and are kept in order. */
interface Patch {
  start: number;
  end: number;
  bytes: Uint8Array | null;
}

const isZero = (bytes: Uint8Array): boolean => {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
};

/** What a patch holds of [start, end) (a part of it). */
function slicePatch(patch: Patch, start: number, end: number): Patch {
  return { start, end, bytes: patch.bytes && patch.bytes.subarray(start - patch.start, end - patch.start) };
}

export class PatchedStorage implements WritableStorage {
  private patches: Patch[] = [];
  private currentLength: number;
  private held = 0;

  constructor(
    private readonly base: Storage,
    /** The most bytes of changes held in memory. */
    private readonly limit = 512 << 20,
  ) {
    this.currentLength = base.size;
  }

  get name(): string {
    return this.base.name;
  }

  get size(): number {
    return this.base.size;
  }

  /** Bytes of changes held in memory now. */
  get heldBytes(): number {
    return this.held;
  }

  async length(): Promise<number> {
    return this.currentLength;
  }

  async sync(): Promise<void> {
    // Nothing reaches a disk until the result is streamed out: there is no order to keep.
  }

  /** Index of the first patch that ends after `offset`. */
  private firstEndingAfter(offset: number): number {
    let low = 0;
    let high = this.patches.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.patches[mid].end <= offset) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** Removes [start, end) from the patches, keeping what lies outside it. */
  private cut(start: number, end: number): number {
    const first = this.firstEndingAfter(start);
    let last = first;
    const kept: Patch[] = [];
    while (last < this.patches.length && this.patches[last].start < end) {
      const patch = this.patches[last];
      this.held -= patch.bytes?.length ?? 0;
      if (patch.start < start) kept.push(slicePatch(patch, patch.start, start));
      if (patch.end > end) kept.push(slicePatch(patch, end, patch.end));
      last++;
    }
    // A part kept holds a view of the old buffer: copied, so the old one can go.
    const copies = kept.map((p) => ({ ...p, bytes: p.bytes && p.bytes.slice() }));
    for (const p of copies) this.held += p.bytes?.length ?? 0;
    this.patches.splice(first, last - first, ...copies);
    return first + (copies.length > 0 && copies[0].start < start ? 1 : 0);
  }

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0) return;
    const end = offset + bytes.length;
    const held = isZero(bytes) ? null : bytes.slice();
    if (held && this.held + held.length > this.limit)
      throw new DiskImgError(
        'limit',
        `Changing this image needs more than ${this.limit >> 20} MiB of its tables in memory; diskimg stops here rather than exhaust the page's memory`,
        { offset, value: this.held + held.length },
      );
    const at = this.cut(offset, end);
    this.patches.splice(at, 0, { start: offset, end, bytes: held });
    this.held += held?.length ?? 0;
    this.currentLength = Math.max(this.currentLength, end);
  }

  async truncate(length: number): Promise<void> {
    if (length < this.currentLength) this.cut(length, Number.MAX_SAFE_INTEGER);
    // Growing: the new end reads as zeros; shrinking below the original cuts its bytes off too.
    this.currentLength = length;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const target = new Uint8Array(length);
    await this.readInto(offset, target);
    return target;
  }

  async readInto(offset: number, target: Uint8Array): Promise<void> {
    const end = offset + target.length;
    const fromBase = Math.max(0, Math.min(end, this.currentLength, this.base.size) - offset);
    if (fromBase > 0) await readInto(this.base, offset, target.subarray(0, fromBase));
    target.fill(0, fromBase);
    for (let i = this.firstEndingAfter(offset); i < this.patches.length && this.patches[i].start < end; i++) {
      const patch = this.patches[i];
      const from = Math.max(patch.start, offset);
      const to = Math.min(patch.end, end);
      if (patch.bytes) target.set(patch.bytes.subarray(from - patch.start, to - patch.start), from - offset);
      else target.fill(0, from - offset, to - offset);
    }
    // Past the length (after a truncate) nothing is there.
    if (end > this.currentLength) target.fill(0, Math.max(0, this.currentLength - offset));
  }
}
