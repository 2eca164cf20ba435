/** Test support: a file sink that only appends, as a download stream does. */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Sink } from '../../src/core/sink.ts';

/** A sink that only appends, as a download stream does (no truncate, so no seeking either). */
export class AppendOnlyFileSink implements Sink {
  private readonly fd: number;
  length = 0;
  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }
  async write(offset: number, bytes: Uint8Array): Promise<void> {
    if (offset !== this.length) throw new Error(`write at ${offset}, but ${this.length} bytes were written: not in order`);
    writeSync(this.fd, bytes);
    this.length += bytes.length;
  }
  async close(): Promise<void> {
    closeSync(this.fd);
  }
}

/**
 * The same in memory: every write must continue exactly where the last one ended. `keep: false`
 * only checks the order and counts (for outputs too large to hold).
 */
export class AppendOnlySink implements Sink {
  private readonly parts: Uint8Array[] = [];
  length = 0;
  constructor(private readonly options: { keep: boolean } = { keep: true }) {}
  async write(offset: number, bytes: Uint8Array): Promise<void> {
    if (offset !== this.length) throw new Error(`write at ${offset}, but the stream is at ${this.length}`);
    if (this.options.keep) this.parts.push(bytes.slice());
    this.length += bytes.length;
  }
  async close(): Promise<void> {}
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}
