/**
 * Where output goes. A seekable sink (a file handle, an OPFS access handle, a Node file) takes
 * writes at any offset and can leave holes by setting its size first; a sequential one (a
 * download stream) has no truncate and must be fed every byte in order.
 */
export interface Sink {
  /** Once the returned promise settles, the caller may reuse `bytes`. */
  write(offset: number, bytes: Uint8Array): Promise<void>;
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
