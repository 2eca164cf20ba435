/**
 * One zlib stream (with its header) inflated into a buffer of exactly its expected size, as QEMU's
 * cloop and dmg drivers do: inflate(Z_FINISH) must end the stream and fill the buffer — no more,
 * no less.
 */
import { Inflater } from '../../codecs/inflate.ts';

export class ZlibBlockInflater {
  private readonly inflater = new Inflater(15);

  /** Fills `out` from `input`; false when the stream does not end exactly at out.length bytes. */
  inflate(input: Uint8Array, out: Uint8Array): boolean {
    const { ended, full } = this.inflater.run(input, out);
    return ended && full;
  }
}
