/**
 * The block allocation table (MS-VHDX 2.5): one 64-bit entry per payload block, a sector bitmap
 * entry after every `chunkRatio` of them. Read page by page on demand (a few pages kept), never
 * whole: a BAT can be far larger than the blocks it maps.
 */
import type { Storage } from '../../storage/storage.ts';
import { le32 } from './fields.ts';

export const NOT_PRESENT = 0;
export const UNDEFINED = 1;
export const ZERO = 2;
export const UNMAPPED = 3;
export const UNMAPPED_V095 = 5;
export const FULLY_PRESENT = 6;
export const PARTIALLY_PRESENT = 7;
/** A sector bitmap block's state when it is present. */
export const SB_PRESENT = 6;

export interface BatEntry {
  state: number;
  /** The file offset (FileOffsetMB × 1 MiB), exact. */
  offset: bigint;
}

const PAGE_ENTRIES = 4096;
const PAGES_KEPT = 16;

export class Bat {
  private readonly pages = new Map<number, Uint8Array>();

  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly entries: number,
  ) {}

  async entry(index: number): Promise<BatEntry> {
    return this.cachedEntry(index) ?? this.decode(await this.page(Math.floor(index / PAGE_ENTRIES)), index);
  }

  /** The entry when its page is at hand (no await: long runs of empty blocks go fast), else null. */
  cachedEntry(index: number): BatEntry | null {
    const page = this.pages.get(Math.floor(index / PAGE_ENTRIES));
    return page ? this.decode(page, index) : null;
  }

  private decode(page: Uint8Array, index: number): BatEntry {
    const at = (index % PAGE_ENTRIES) * 8;
    const lo = le32(page, at);
    const hi = le32(page, at + 4);
    return { state: lo & 7, offset: (BigInt(hi) << 32n) | BigInt(((lo >>> 20) << 20) >>> 0) };
  }

  /** The raw entries [0, to) a page at a time (not kept): for the open-time check. */
  async *pagesUpTo(to: number): AsyncGenerator<{ first: number; bytes: Uint8Array }> {
    const step = PAGE_ENTRIES * 32;
    for (let first = 0; first < to; first += step) {
      yield { first, bytes: await this.storage.read(this.offset + first * 8, Math.min(step, to - first) * 8) };
    }
  }

  private async page(n: number): Promise<Uint8Array> {
    let page = this.pages.get(n);
    if (page) {
      this.pages.delete(n);
      this.pages.set(n, page);
      return page;
    }
    const first = n * PAGE_ENTRIES;
    const count = Math.min(PAGE_ENTRIES, this.entries - first);
    page = await this.storage.read(this.offset + first * 8, Math.max(0, count) * 8);
    this.pages.set(n, page);
    if (this.pages.size > PAGES_KEPT) this.pages.delete(this.pages.keys().next().value!);
    return page;
  }
}
