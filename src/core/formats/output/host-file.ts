/**
 * The output file as a writer sees it: metadata it writes itself, guest data it places, zeros it
 * fills with, and the length it sets. Writing for real, every call reaches the sink. Planning (the
 * first pass for a sink that can only append), metadata is kept in memory — it is small — and
 * guest data is only noted (where it went, from which guest offset), to be read again and emitted
 * in file order by the second pass (pipeline/convert-output.ts).
 */
import type { Sink } from '../../sink.ts';

/** Guest bytes [guest, guest + length) stored at host offset `host`. */
export interface Placement {
  host: number;
  guest: number;
  length: number;
}

const CHUNK = 64 * 1024;

/** Metadata written while planning, in 64 KiB chunks (unwritten bytes read as zero). */
export class MetadataOverlay {
  private readonly chunks = new Map<number, Uint8Array>();

  write(offset: number, bytes: Uint8Array): void {
    for (let at = offset; at < offset + bytes.length;) {
      const index = Math.floor(at / CHUNK);
      const end = Math.min(offset + bytes.length, (index + 1) * CHUNK);
      let chunk = this.chunks.get(index);
      if (!chunk) this.chunks.set(index, (chunk = new Uint8Array(CHUNK)));
      chunk.set(bytes.subarray(at - offset, end - offset), at - index * CHUNK);
      at = end;
    }
  }

  /** Forgets [offset, offset + length): what a later write of data or zeros replaced. */
  clear(offset: number, length: number): void {
    for (let at = offset; at < offset + length;) {
      const index = Math.floor(at / CHUNK);
      const end = Math.min(offset + length, (index + 1) * CHUNK);
      this.chunks.get(index)?.fill(0, at - index * CHUNK, end - index * CHUNK);
      at = end;
    }
  }

  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let at = offset; at < offset + length;) {
      const index = Math.floor(at / CHUNK);
      const end = Math.min(offset + length, (index + 1) * CHUNK);
      const chunk = this.chunks.get(index);
      if (chunk) out.set(chunk.subarray(at - index * CHUNK, end - index * CHUNK), at - offset);
      at = end;
    }
    return out;
  }
}

const ZEROS = new Uint8Array(1024 * 1024);

export class HostFile {
  private end = 0;
  /** Planning: the metadata, and where the guest data goes, in the order it was placed. */
  readonly overlay?: MetadataOverlay;
  readonly placements: Placement[] = [];

  private constructor(private readonly sink: Sink | undefined) {
    if (!sink) this.overlay = new MetadataOverlay();
  }

  /** Writes go to `sink`: seekable, unless the writer writes front to back (OutputDriver.streams). */
  static writing(sink: Sink): HostFile {
    return new HostFile(sink);
  }

  /** Writes are kept (metadata) or noted (data), for a second pass. */
  static planning(): HostFile {
    return new HostFile(undefined);
  }

  get planning(): boolean {
    return this.sink === undefined;
  }

  /** One past the last byte: the file's length. */
  get length(): number {
    return this.end;
  }

  async metadata(offset: number, bytes: Uint8Array): Promise<void> {
    this.end = Math.max(this.end, offset + bytes.length);
    if (this.sink) await this.sink.write(offset, bytes);
    else this.overlay!.write(offset, bytes);
  }

  async data(offset: number, bytes: Uint8Array, guestOffset: number): Promise<void> {
    this.end = Math.max(this.end, offset + bytes.length);
    if (this.sink) return this.sink.write(offset, bytes);
    this.overlay!.clear(offset, bytes.length);
    const last = this.placements.at(-1);
    if (last && last.host + last.length === offset && last.guest + last.length === guestOffset) last.length += bytes.length;
    else this.placements.push({ host: offset, guest: guestOffset, length: bytes.length });
  }

  async zeros(offset: number, length: number): Promise<void> {
    this.end = Math.max(this.end, offset + length);
    if (!this.sink) return this.overlay!.clear(offset, length);
    for (let at = 0; at < length; at += ZEROS.length)
      await this.sink.write(offset + at, ZEROS.subarray(0, Math.min(ZEROS.length, length - at)));
  }

  /** Makes the file this long; what was never written reads as zeros (a hole where it can be). */
  async setLength(length: number): Promise<void> {
    this.end = Math.max(this.end, length);
    if (this.sink?.truncate) await this.sink.truncate(length);
  }
}
