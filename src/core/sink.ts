/**
 * Where output goes. A seekable sink (a file handle, an OPFS access handle, a Node file) takes
 * writes at any offset and can leave holes by setting its size first; a sequential one (a
 * download stream) has no truncate and must be fed every byte in order.
 */
export interface Sink {
  /** Once the returned promise settles, the caller may reuse `bytes`. */
  write(offset: number, bytes: Uint8Array): Promise<void>;
  /**
   * Several writes may be in flight at once (a caller need not wait for one before the next), and
   * writes that overlap land in the order they were called: a Node file, written from a pool of
   * threads as qemu-img's coroutines write.
   */
  readonly concurrent?: boolean;
  /** Sets the final size up front; present only on sinks that can seek and leave holes. */
  truncate?(size: number): Promise<void>;
  /** Finishes the output: only a closed sink holds a whole image. */
  close(): Promise<void>;
  /** Gives up: removes (or clearly marks) the partial output. */
  abort?(): Promise<void>;
}

/** A sink that keeps everything in memory: for tests and small images only. */
export class MemorySink implements Sink {
  bytes = new Uint8Array(0);
  closed = false;

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.grow(offset + data.length);
    this.bytes.set(data, offset);
  }

  async truncate(size: number): Promise<void> {
    this.grow(size);
    if (size < this.bytes.length) this.bytes = this.bytes.slice(0, size);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private grow(size: number): void {
    if (size <= this.bytes.length) return;
    const next = new Uint8Array(size);
    next.set(this.bytes);
    this.bytes = next;
  }
}

/**
 * Gathers small writes that follow one another into one large write: compressed clusters are
 * written a few KiB at a time, and each write to a browser file handle is a costly call. Any
 * write elsewhere flushes first, so the order of writes to any byte is kept.
 */
export class CoalescingSink implements Sink {
  private buffer: Uint8Array;
  private start = 0;
  private used = 0;
  readonly truncate?: (size: number) => Promise<void>;

  constructor(
    private readonly inner: Sink,
    capacity = 4 << 20,
  ) {
    this.buffer = new Uint8Array(capacity);
    if (inner.truncate) {
      this.truncate = async (size) => {
        await this.flush();
        await inner.truncate!(size);
      };
    }
  }

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    if (this.used > 0 && offset !== this.start + this.used) await this.flush();
    if (bytes.length >= this.buffer.length / 2) {
      // Large writes gain nothing from the copy.
      await this.flush();
      await this.inner.write(offset, bytes);
      return;
    }
    if (this.used + bytes.length > this.buffer.length) await this.flush();
    if (this.used === 0) this.start = offset;
    this.buffer.set(bytes, this.used);
    this.used += bytes.length;
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    const pending = this.buffer.subarray(0, this.used);
    this.used = 0;
    await this.inner.write(this.start, pending);
  }

  async close(): Promise<void> {
    await this.flush();
    await this.inner.close();
  }

  async abort(): Promise<void> {
    this.used = 0;
    await this.inner.abort?.();
  }
}
