/**
 * A compressed grain (streamOptimized): a marker (u64 LBA, u32 size) then zlib data (RFC 1950,
 * not raw deflate), decoded as QEMU's vmdk_read_extent does with zlib's uncompress(): the stream
 * must end, its checksum must hold, and it may give less than a grain (the disk's last one).
 */
import { ZStream, Z_FINISH, Z_STREAM_END, zlibInflate, zlibInflateInit2, zlibInflateReset } from 'pako';

export const MARKER_HEADER = 12;

export class GrainInflater {
  private readonly stream = new ZStream();

  constructor() {
    zlibInflateInit2(this.stream, 15);
  }

  /**
   * Decodes `input` into `out`; the number of bytes it gave, or null where uncompress() fails
   * (a bad stream, a wrong checksum, more output than `out` holds, a stream cut short).
   */
  inflate(input: Uint8Array, out: Uint8Array): number | null {
    const s = this.stream;
    zlibInflateReset(s);
    s.input = input;
    s.next_in = 0;
    s.avail_in = input.length;
    s.output = out as Uint8Array<ArrayBuffer>;
    s.next_out = 0;
    s.avail_out = out.length;
    const status = zlibInflate(s, Z_FINISH);
    const produced = s.next_out;
    s.input = new Uint8Array(0);
    return status === Z_STREAM_END ? produced : null;
  }
}
