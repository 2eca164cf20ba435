/**
 * A grain as QEMU compresses it for a streamOptimized VMDK (block/vmdk.c, vmdk_write_extent):
 * zlib's compress() — the zlib wrapper, level 6 (Z_DEFAULT_COMPRESSION), a 32 KiB window, memLevel
 * 8 — into a buffer twice the grain, so every grain is stored deflated, even one that grows.
 *
 * zlib 1.2.13 (what qemu-img calls on Debian 12) hashes strings the classic way; pako 3 and Node's
 * zlib (Chromium's) hash them faster by default and so find other matches: about 1 % smaller
 * streams, different bytes. pako with legacyHash makes zlib's very bytes, so grains come out as
 * qemu-img's. Node's zlib has no such switch: the CLI's threads run this too.
 */
import { ZStream, Z_FINISH, Z_STREAM_END, zlibDeflate, zlibDeflateInit2, zlibDeflateReset } from 'pako';
import { DiskImgError } from '../../../errors.ts';

const Z_DEFLATED = 8;
const Z_DEFAULT_STRATEGY = 0;

/** The compressor kind the compression pools know this codec by. */
export const VMDK_GRAIN_CODEC = 'vmdk';

/** One grain → its zlib stream; the grain may be shorter than a whole grain (the disk's last). */
export function vmdkGrainDeflater(grainSize: number): (grain: Uint8Array) => Uint8Array {
  const stream = new ZStream();
  zlibDeflateInit2(stream, 6, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY, true);
  const out = new Uint8Array(grainSize * 2);
  return (grain) => {
    zlibDeflateReset(stream);
    stream.input = grain;
    stream.next_in = 0;
    stream.avail_in = grain.length;
    stream.output = out;
    stream.next_out = 0;
    stream.avail_out = out.length;
    const status = zlibDeflate(stream, Z_FINISH);
    stream.input = new Uint8Array(0);
    if (status !== Z_STREAM_END) throw new DiskImgError('io', `deflating a grain of ${grain.length} bytes failed (zlib status ${status})`);
    return out.slice(0, stream.next_out);
  };
}
