/**
 * Any disk image → a new qcow2, issuing the same guest writes, in the same order and sizes, as
 * `qemu-img convert -O qcow2` (write-requests.ts). Since the layout of a qcow2 file follows from
 * its write sequence, this is what makes our files come out laid out like qemu-img's.
 */
import { DiskImgError } from '../errors.ts';
import type { ClusterCompressor } from '../codecs/compress.ts';
import type { DiskImage } from '../disk.ts';
import { DEFAULT_WRITE_OPTIONS, Qcow2Writer, type Qcow2WriteOptions } from '../formats/qcow2/write/writer.ts';
import type { Sink } from '../sink.ts';
import type { ConvertOptions } from './convert.ts';
import { driveGuestWrites } from './convert-guest.ts';

export { dataRuns, writeRequests, zeroSectors, type WriteRequest } from './write-requests.ts';

export interface Qcow2ConvertOptions extends ConvertOptions {
  qcow2?: Partial<Qcow2WriteOptions>;
  /** Compress every cluster (qemu-img convert -c) with this compressor. */
  compressor?: ClusterCompressor;
}

/** What the layout came to: where the L1 table is, and the file's length. */
export interface Qcow2Layout {
  l1TableOffset: number;
  l1Size: number;
  length: number;
}

export async function convertToQcow2(image: DiskImage, sink: Sink, options: Qcow2ConvertOptions = {}): Promise<Qcow2Layout> {
  const writeOptions: Qcow2WriteOptions = { ...DEFAULT_WRITE_OPTIONS, ...options.qcow2 };
  if (writeOptions.encryption && options.compressor)
    throw new DiskImgError('usage', 'Compression and encryption not supported at the same time', { field: 'encrypt.format' });
  const writer = await Qcow2Writer.create(sink, image.virtualSize, writeOptions);
  await driveGuestWrites(image, writer, { ...options, clusterSize: writeOptions.clusterSize });
  return { l1TableOffset: writer.l1TableOffset, l1Size: writer.l1Size, length: writer.length };
}
