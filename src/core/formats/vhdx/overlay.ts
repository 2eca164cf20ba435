/**
 * A read-only Storage with writes laid over it in memory: what a replayed VHDX log leaves behind,
 * without ever writing to the input. Segments are disjoint and sorted; a later write replaces what
 * it covers. Zero runs take no memory.
 */
import type { Storage } from '../../storage/storage.ts';

interface Segment {
  start: number;
  end: number;
  /** The bytes, or undefined for zeros. */
  data?: Uint8Array;
}

export class OverlayStorage implements Storage {
  private segments: Segment[] = [];
  size: number;

  constructor(private readonly base: Storage) {
    this.size = base.size;
  }

  get name(): string {
    return this.base.name;
  }

  /** Lays `data` (or `length` zeros when data is undefined) over [offset, offset + length). */
  write(offset: number, length: number, data?: Uint8Array): void {
    const end = offset + length;
    const first = this.firstEndingAfter(offset);
    let last = first;
    while (last < this.segments.length && this.segments[last].start < end) last++;
    const replaced: Segment[] = [];
    if (first < last) {
      const a = this.segments[first];
      const b = this.segments[last - 1];
      if (a.start < offset) replaced.push({ start: a.start, end: offset, data: a.data?.subarray(0, offset - a.start) });
      replaced.push({ start: offset, end, data });
      if (b.end > end) replaced.push({ start: end, end: b.end, data: b.data?.subarray(end - b.start) });
    } else replaced.push({ start: offset, end, data });
    this.segments.splice(first, last - first, ...replaced);
    this.size = Math.max(this.size, end);
  }

  /** Index of the first segment that ends after `offset`. */
  private firstEndingAfter(offset: number): number {
    let lo = 0;
    let hi = this.segments.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segments[mid].end <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Grows the file (zeros), as a truncate to a larger size does. */
  grow(size: number): void {
    this.size = Math.max(this.size, size);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = await this.base.read(offset, length);
    const end = offset + length;
    // Bytes past the base file's end read as zeros (the base pads them already).
    for (let i = this.firstEndingAfter(offset); i < this.segments.length && this.segments[i].start < end; i++) {
      const s = this.segments[i];
      const from = Math.max(s.start, offset);
      const to = Math.min(s.end, end);
      if (s.data) out.set(s.data.subarray(from - s.start, to - s.start), from - offset);
      else out.fill(0, from - offset, to - offset);
    }
    return out;
  }

  async close(): Promise<void> {
    // The base storage belongs to whoever opened it.
  }
}
