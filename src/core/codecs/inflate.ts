/**
 * One-shot inflating into the caller's buffer, with pako's low-level API: a hostile stream can
 * never write past the buffer, and each format judges the outcome by its own rule. pako, because
 * DecompressionStream rejects the trailing bytes a qcow2 cluster's sector-rounded length carries.
 */
import { ZStream, Z_BUF_ERROR, Z_FINISH, Z_STREAM_END, zlibInflate, zlibInflateInit2, zlibInflateReset } from 'pako';

export interface InflateOutcome {
  /** The stream reached its end (and, for zlib, its checksum held). */
  ended: boolean;
  /** The output buffer is full. */
  full: boolean;
  /** Neither ended nor merely out of room: the data is not a valid stream. */
  broken: boolean;
  /** Bytes written to the output. */
  produced: number;
}

export class Inflater {
  private readonly stream = new ZStream();

  /** `windowBits` as zlib takes it: -15 for raw deflate, 15 for a zlib stream (RFC 1950). */
  constructor(windowBits: number) {
    zlibInflateInit2(this.stream, windowBits);
  }

  /** One inflate(Z_FINISH) of `input` into `out`. */
  run(input: Uint8Array, out: Uint8Array): InflateOutcome {
    const s = this.stream;
    zlibInflateReset(s);
    s.input = input;
    s.next_in = 0;
    s.avail_in = input.length;
    s.output = out as Uint8Array<ArrayBuffer>;
    s.next_out = 0;
    s.avail_out = out.length;
    let status: number;
    try {
      status = zlibInflate(s, Z_FINISH);
    } catch {
      status = -1;
    }
    const produced = s.next_out;
    s.input = new Uint8Array(0);
    return {
      ended: status === Z_STREAM_END,
      full: produced === out.length,
      broken: status !== Z_STREAM_END && status !== Z_BUF_ERROR,
      produced,
    };
  }
}

/**
 * Raw deflate decoding of one qcow2 cluster, as QEMU's qcow2_zlib_decompress does it: one
 * inflate(Z_FINISH) into a buffer of exactly one cluster; it succeeds when the buffer is full,
 * whatever input follows (the stored length is sector-rounded and usually runs into the next
 * compressed cluster).
 */
export class RawInflater {
  // A 32 KiB window decodes everything a 4 KiB one does (QEMU writes -12); one-shot decoding
  // into the whole cluster never consults the window limit anyway.
  private readonly inflater = new Inflater(-15);

  /** Returns null when the data does not decode to exactly `out.length` bytes. */
  inflate(input: Uint8Array, out: Uint8Array): Uint8Array | null {
    const { broken, full } = this.inflater.run(input, out);
    return !broken && full ? out : null;
  }
}
