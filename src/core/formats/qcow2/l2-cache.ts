/**
 * A small, bounded LRU of L2 tables (QEMU's qcow2-cache): a multi-TiB image is walked with a
 * fixed amount of memory. Concurrent requests for the same table share one read.
 */
import type { Storage } from '../../storage/storage.ts';

export class L2Cache {
  private readonly tables = new Map<number, Promise<Uint8Array>>();
  private readonly capacity: number;

  constructor(
    private readonly storage: Storage,
    private readonly tableBytes: number,
    budgetBytes = 16 * 1024 * 1024,
  ) {
    this.capacity = Math.max(4, Math.floor(budgetBytes / tableBytes));
  }

  get(offset: number): Promise<Uint8Array> {
    const cached = this.tables.get(offset);
    if (cached) {
      // Re-insert to mark it most recently used (Map keeps insertion order).
      this.tables.delete(offset);
      this.tables.set(offset, cached);
      return cached;
    }
    const loading = this.storage.read(offset, this.tableBytes);
    this.tables.set(offset, loading);
    loading.catch(() => this.tables.delete(offset));
    if (this.tables.size > this.capacity) {
      const oldest = this.tables.keys().next().value as number;
      this.tables.delete(oldest);
    }
    return loading;
  }
}
