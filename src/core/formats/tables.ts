/**
 * What the small table formats (vdi, qcow, qed) share: table entries read a page at a time through
 * a bounded cache (a table may be as large as the file, so it is never read whole), and the merging
 * of adjacent extents of one kind that every Layer's mappings() does.
 */
import type { Storage } from '../storage/storage.ts';

const PAGE = 64 * 1024;

/** Entries of tables in one file, read in 64 KiB pages; at most `budget` bytes stay cached. */
export class TablePages {
  private readonly pages = new Map<number, Promise<DataView>>();
  private readonly capacity: number;

  constructor(
    private readonly storage: Storage,
    budget = 8 * 1024 * 1024,
  ) {
    this.capacity = Math.max(4, Math.floor(budget / PAGE));
  }

  async u32le(offset: number): Promise<number> {
    return (await this.bytes(offset, 4)).getUint32(0, true);
  }

  /** A 64-bit entry as a number; exact below 2^53 (the high bits that hold flags are asked apart). */
  async u64le(offset: number): Promise<number> {
    const v = await this.bytes(offset, 8);
    return v.getUint32(4, true) * 0x1_0000_0000 + v.getUint32(0, true);
  }

  /** A big-endian 64-bit entry as its two halves (high, low). */
  async u64beHalves(offset: number): Promise<[number, number]> {
    const v = await this.bytes(offset, 8);
    return [v.getUint32(0), v.getUint32(4)];
  }

  private async bytes(offset: number, length: number): Promise<DataView> {
    const index = Math.floor(offset / PAGE);
    const at = offset - index * PAGE;
    if (at + length > PAGE) {
      const bytes = await this.storage.read(offset, length);
      return new DataView(bytes.buffer, bytes.byteOffset, length);
    }
    const page = await this.page(index);
    return new DataView(page.buffer, page.byteOffset + at, length);
  }

  private page(index: number): Promise<DataView> {
    const cached = this.pages.get(index);
    if (cached) {
      this.pages.delete(index);
      this.pages.set(index, cached);
      return cached;
    }
    const loading = this.storage.read(index * PAGE, PAGE).then((bytes) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    this.pages.set(index, loading);
    loading.catch(() => this.pages.delete(index));
    if (this.pages.size > this.capacity) this.pages.delete(this.pages.keys().next().value as number);
    return loading;
  }
}
