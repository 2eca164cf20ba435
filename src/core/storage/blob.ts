import { DiskImgError } from '../errors.ts';
import { padToLength, type Storage } from './storage.ts';

/** Reads of at least this size start (or restart) the stream; smaller ones only continue it. */
const STREAM_MIN_READ = 1 << 20;
/** A gap up to this size ahead of the stream is read and dropped rather than restarting it. */
const STREAM_MAX_SKIP = 4 << 20;
/** The buffer the stream fills and this reader reuses. */
const STREAM_BUFFER = 4 << 20;

export interface BlobStorageOptions {
  /**
   * A stream read that brings nothing for this long is abandoned, and the Blob is read by slices
   * from then on. Chromium's BYOB reads of a File stalled for 20–600 s in 3 of 18 passes of a
   * prototype; a slow disk only costs the stream, never the job.
   */
  stallMs?: number;
}

/**
 * A Blob or File (browser, or Node's Blob); nothing but the requested range is ever in memory.
 *
 * `read` is one slice per call: a fresh ArrayBuffer from the browser process. `readInto`, which the
 * pipelines call in order with buffers they reuse, is served from one BYOB stream into a buffer
 * this storage reuses too: in Chromium a fresh ArrayBuffer per slice costs its page faults on every
 * byte, and reading 2 GiB by 16 MiB slices took 2.5–3.1 s where the stream took 1.9–2.1 s. A read
 * that neither continues the last one nor is large is a slice, so random small reads do not
 * restart the stream.
 */
export class BlobStorage implements Storage {
  private reader?: ReadableStreamBYOBReader;
  /** Offset of the next byte the stream delivers. */
  private streamAt = 0;
  /** Delivered but not yet taken: chunk[chunkAt..]. */
  private chunk = new Uint8Array(0);
  private chunkAt = 0;
  private spare: ArrayBuffer | undefined;
  /** Where the last readInto ended: the next one that starts there continues the stream. */
  private nextExpected = Number.NaN;
  private streamBroken = false;
  /** When the pending stream read began (undefined: none pending), and how to give it up. */
  private pullSince: number | undefined;
  private giveUp: (() => void) | undefined;
  private watchdog: ReturnType<typeof setTimeout> | undefined;
  /** Stream reads run one at a time, in the order they were asked for. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly stallMs: number;

  constructor(
    private readonly blob: Blob,
    readonly name = (blob as File).name ?? 'blob',
    options: BlobStorageOptions = {},
  ) {
    this.stallMs = options.stallMs ?? 5000;
  }

  get size(): number {
    return this.blob.size;
  }

  /** Whether the stream was given up, stalled or missing (reads go by slices from then on). */
  get fellBackToSlices(): boolean {
    return this.streamBroken;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const end = Math.min(offset + length, this.blob.size);
    if (offset >= end) return new Uint8Array(length);
    let buffer: ArrayBuffer;
    try {
      buffer = await this.blob.slice(offset, end).arrayBuffer();
    } catch (error) {
      throw this.unreadable(error, offset);
    }
    return padToLength(new Uint8Array(buffer), length);
  }

  /** The slice path of readInto: where the stream is not used, or has been given up. */
  private async sliceInto(offset: number, target: Uint8Array): Promise<void> {
    target.set(await this.read(offset, target.length));
  }

  readInto(offset: number, target: Uint8Array): Promise<void> {
    const continues = offset >= this.nextExpected && offset - this.nextExpected <= STREAM_MAX_SKIP;
    const streamed = !this.streamBroken && offset < this.blob.size && (continues || target.length >= STREAM_MIN_READ);
    this.nextExpected = offset + target.length;
    if (!streamed) return this.sliceInto(offset, target);
    const run = this.queue.then(() => this.fromStream(offset, target));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async fromStream(offset: number, target: Uint8Array): Promise<void> {
    if (this.streamBroken) return this.sliceInto(offset, target);
    const end = Math.min(offset + target.length, this.blob.size);
    if (!this.reader || offset < this.streamAt || offset > this.streamAt + STREAM_MAX_SKIP) {
      try {
        this.restart(offset);
      } catch {
        // No byte stream behind this Blob (getReader({ mode: 'byob' }) throws a TypeError where a
        // browser's Blob streams are not byte streams): slices it is.
        this.streamBroken = true;
        return this.sliceInto(offset, target);
      }
    }
    let filled = 0;
    try {
      while (this.streamAt < end) {
        if (this.chunkAt === this.chunk.length && !(await this.pull())) {
          // The stream gave up: the rest of this read, and all after it, by slices.
          return this.sliceInto(offset + filled, target.subarray(filled));
        }
        const take = Math.min(this.chunk.length - this.chunkAt, end - this.streamAt);
        if (this.streamAt >= offset) {
          target.set(this.chunk.subarray(this.chunkAt, this.chunkAt + take), filled);
          filled += take;
        } else {
          // Skipping a gap: take only up to where this read starts.
          const skip = Math.min(take, offset - this.streamAt);
          this.chunkAt += skip;
          this.streamAt += skip;
          continue;
        }
        this.chunkAt += take;
        this.streamAt += take;
      }
    } catch (error) {
      this.stop();
      throw this.unreadable(error, this.streamAt);
    }
    target.fill(0, filled);
  }

  private restart(offset: number): void {
    this.stop();
    const stream = this.blob.slice(offset).stream();
    try {
      this.reader = stream.getReader({ mode: 'byob' });
    } catch (error) {
      // WebKit's Blob streams are not byte streams, and one starts reading as soon as it is made,
      // with no back-pressure: left alone, it pulled the rest of a 2 GiB File into the page's
      // memory while the job read it again by slices (WebKitGTK 2.50: its web process grew by
      // 0.7 GiB in 3 s with nothing reading; cancelled at once, by nothing).
      void stream.cancel().catch(() => undefined);
      throw error;
    }
    this.streamAt = offset;
  }

  /** The next chunk from the stream into the reused buffer; false if the stream stalled. */
  private async pull(): Promise<boolean> {
    const reader = this.reader!;
    const buffer = this.spare ?? (this.chunk.buffer.byteLength === STREAM_BUFFER ? this.chunk.buffer : new ArrayBuffer(STREAM_BUFFER));
    this.spare = undefined;
    const stalled = new Promise<'stalled'>((resolve) => (this.giveUp = () => resolve('stalled')));
    this.pullSince = Date.now();
    this.watch();
    const result = await Promise.race([reader.read(new Uint8Array(buffer as ArrayBuffer)), stalled]).finally(
      () => (this.pullSince = undefined),
    );
    if (result === 'stalled') {
      this.streamBroken = true;
      this.stop();
      return false;
    }
    if (result.done || !result.value || result.value.length === 0) {
      throw new Error(`the stream ended at offset ${this.streamAt} of ${this.blob.size}`);
    }
    this.chunk = result.value;
    this.chunkAt = 0;
    return true;
  }

  /**
   * One timer for the stream, not one per read (a 2 GiB File arrives in some 25 000 chunks): it
   * looks at the pending read every stallMs and gives it up once it has waited that long.
   */
  private watch(): void {
    if (this.watchdog !== undefined) return;
    const check = () => {
      this.watchdog = undefined;
      if (this.pullSince === undefined) return; // nothing pending: the next read arms it again
      const waited = Date.now() - this.pullSince;
      if (waited >= this.stallMs) this.giveUp?.();
      else this.watchdog = setTimeout(check, this.stallMs - waited);
    };
    this.watchdog = setTimeout(check, this.stallMs);
  }

  private stop(): void {
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
    // Not awaited: a stalled stream may never settle its cancel either.
    this.reader?.cancel().catch(() => undefined);
    this.reader = undefined;
    if (this.chunk.buffer.byteLength === STREAM_BUFFER) this.spare = this.chunk.buffer as ArrayBuffer;
    this.chunk = new Uint8Array(0);
    this.chunkAt = 0;
  }

  private unreadable(error: unknown, offset: number): DiskImgError {
    // Browsers refuse to read a File that changed or was removed after it was chosen
    // (NotReadableError, with a misleading text about permissions).
    return new DiskImgError(
      'io',
      `Could not read '${this.name}' at offset ${offset}: the file changed, moved or was removed after it was opened (${(error as Error).name})`,
      { file: this.name, offset },
    );
  }

  async close(): Promise<void> {
    this.stop();
  }
}
