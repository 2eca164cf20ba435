/**
 * Raw deflate decoding of one qcow2 cluster, as QEMU's qcow2_zlib_decompress does it: one
 * inflate(Z_FINISH) into a buffer of exactly one cluster; it succeeds when the buffer is full,
 * whatever input follows (the stored length is sector-rounded and usually runs into the next
 * compressed cluster). pako, because DecompressionStream rejects such trailing bytes.
 */
import { ZStream, Z_BUF_ERROR, Z_FINISH, Z_STREAM_END, zlibInflate, zlibInflateInit2, zlibInflateReset } from 'pako';

export class RawInflater {
  private readonly stream = new ZStream();

  constructor() {
    // A 32 KiB window decodes everything a 4 KiB one does (QEMU writes -12); one-shot decoding
    // into the whole cluster never consults the window limit anyway.
    zlibInflateInit2(this.stream, -15);
  }

  /** Returns null when the data does not decode to exactly `out.length` bytes. */
  inflate(input: Uint8Array, out: Uint8Array): Uint8Array | null {
    const s = this.stream;
    zlibInflateReset(s);
    s.input = input;
    s.next_in = 0;
    s.avail_in = input.length;
    s.output = out as Uint8Array<ArrayBuffer>;
    s.next_out = 0;
    s.avail_out = out.length;
    const status = zlibInflate(s, Z_FINISH);
    const ok = (status === Z_STREAM_END || status === Z_BUF_ERROR) && s.avail_out === 0;
    s.input = new Uint8Array(0);
    return ok ? out : null;
  }
}
