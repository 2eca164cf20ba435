/**
 * The Bochs redolog header (512 bytes, little-endian): magic, type "Redolog", subtype "Growing",
 * version 1 or 2, header size, catalog entries, bitmap and extent sizes, disk size. Strings are
 * NUL-terminated (QEMU compares them with strcmp).
 */
import { latin1 } from '../../bytes.ts';
import { DiskImgError } from '../../errors.ts';

export const HEADER_BYTES = 512;
const MAGIC = 'Bochs Virtual HD Image';
const VERSION_2 = 0x00020000;
const VERSION_1 = 0x00010000;
/** QEMU's bound: what bximage makes for its largest image (~8 TB). */
const MAX_CATALOG = 0x100000;
const MAX_EXTENT = 0x800000;

export interface BochsHeader {
  version: 1 | 2;
  headerSize: number;
  catalogEntries: number;
  bitmapBytes: number;
  extentBytes: number;
  diskBytes: number;
}

/** The C string at [at, at + length): up to its NUL, or null when it has none. */
function cString(head: Uint8Array, at: number, length: number): string | null {
  const field = head.subarray(at, at + length);
  const nul = field.indexOf(0);
  return nul < 0 ? null : latin1(field.subarray(0, nul));
}

export function isBochs(head: Uint8Array): boolean {
  if (head.length < HEADER_BYTES) return false;
  const version = new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(64, true);
  // strcmp on the magic may read on into the type field when it has no NUL; such a header never matches.
  return (
    cString(head, 0, 32) === MAGIC &&
    cString(head, 32, 16) === 'Redolog' &&
    cString(head, 48, 16) === 'Growing' &&
    (version === VERSION_2 || version === VERSION_1)
  );
}

const invalid = (message: string, field: string, offset: number, value?: number) => {
  throw new DiskImgError('invalid-format', message, { field, offset, value });
};

/** bochs_open's checks, in its order and words. */
export function parseHeader(head: Uint8Array): BochsHeader {
  if (!isBochs(head)) invalid('Image not in Bochs format', 'magic', 0);
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const version = view.getUint32(64, true) === VERSION_1 ? 1 : 2;
  const diskLow = view.getUint32(version === 1 ? 84 : 88, true);
  const diskHigh = view.getUint32(version === 1 ? 88 : 92, true);
  if (diskHigh >= 1 << 21)
    throw new DiskImgError('limit', `Bochs disk size of ${diskHigh * 2 ** 32 + diskLow} bytes is larger than diskimg reads`, {
      field: 'disk',
      offset: version === 1 ? 84 : 88,
      value: diskHigh * 2 ** 32 + diskLow,
    });
  const catalogEntries = view.getUint32(72, true);
  if (catalogEntries > MAX_CATALOG)
    throw new DiskImgError('limit', 'Catalog size is too large', { field: 'catalog', offset: 72, value: catalogEntries });
  const extentBytes = view.getUint32(80, true);
  if (extentBytes < 512) invalid('Extent size must be at least 512', 'extent', 80, extentBytes);
  if ((extentBytes & (extentBytes - 1)) !== 0) invalid(`Extent size ${extentBytes} is not a power of two`, 'extent', 80, extentBytes);
  if (extentBytes > MAX_EXTENT) invalid(`Extent size ${extentBytes} is too large`, 'extent', 80, extentBytes);
  const diskBytes = diskHigh * 2 ** 32 + diskLow;
  const sectors = Math.floor(diskBytes / 512);
  if (catalogEntries < Math.ceil(sectors / (extentBytes / 512)))
    invalid('Catalog size is too small for this disk size', 'catalog', 72, catalogEntries);
  return { version, headerSize: view.getUint32(68, true), catalogEntries, bitmapBytes: view.getUint32(76, true), extentBytes, diskBytes };
}
