/**
 * One zlib stream (with its header) inflated into a buffer of exactly its expected size, as QEMU's
 * cloop and dmg drivers do: inflate(Z_FINISH) must end the stream and fill the buffer — no more,
 * no less. pako's low-level API, so a hostile stream can never write past the buffer.
 */
import { ZStream, Z_FINISH, Z_STREAM_END, zlibInflate, zlibInflateInit2, zlibInflateReset } from 'pako';

export class ZlibBlockInflater {
  private readonly stream = new ZStream();

  constructor() {
    zlibInflateInit2(this.stream, 15);
  }

  /** Fills `out` from `input`; false when the stream does not end exactly at out.length bytes. */
  inflate(input: Uint8Array, out: Uint8Array): boolean {
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
    const ok = status === Z_STREAM_END && s.avail_out === 0;
    s.input = new Uint8Array(0);
    return ok;
  }
}
