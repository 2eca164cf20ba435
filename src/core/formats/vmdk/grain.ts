/**
 * A compressed grain (streamOptimized): a marker (u64 LBA, u32 size) then zlib data (RFC 1950,
 * not raw deflate), decoded as QEMU's vmdk_read_extent does with zlib's uncompress(): the stream
 * must end, its checksum must hold, and it may give less than a grain (the disk's last one).
 */
import { Inflater } from '../../codecs/inflate.ts';

export const MARKER_HEADER = 12;

export class GrainInflater {
  private readonly inflater = new Inflater(15);

  /**
   * Decodes `input` into `out`; the number of bytes it gave, or null where uncompress() fails
   * (a bad stream, a wrong checksum, more output than `out` holds, a stream cut short).
   */
  inflate(input: Uint8Array, out: Uint8Array): number | null {
    const { ended, produced } = this.inflater.run(input, out);
    return ended ? produced : null;
  }
}
