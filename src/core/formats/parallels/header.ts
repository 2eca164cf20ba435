/**
 * The Parallels header (docs/interop/parallels.txt): 64 bytes, little-endian, then the BAT — one
 * 32-bit entry per cluster. "WithoutFreeSpace" images count BAT entries in sectors,
 * "WithouFreSpacExt" ones in clusters (qemu-img creates the latter).
 */
import { latin1 } from '../../bytes.ts';
import { DiskImgError } from '../../errors.ts';

export const HEADER_BYTES = 64;
export const MAGIC_V1 = 'WithoutFreeSpace';
export const MAGIC_EXT = 'WithouFreSpacExt';
/** `inuse` holds this while an image is open read-write: it was not closed cleanly. */
export const INUSE_MAGIC = 0x746f6e59;
const INT_MAX = 0x7fffffff;

export interface ParallelsHeader {
  magic: string;
  /** Sectors per cluster. */
  tracks: number;
  batEntries: number;
  /** Guest sectors (a v1 header keeps only the low 32 bits). */
  sectors: number;
  inUse: boolean;
  dataOffsetSectors: number;
  /** What a BAT entry is multiplied by to give a sector: 1 (v1) or tracks (ext). */
  offsetMultiplier: number;
  /** The Format Extension cluster's offset in sectors (0: none). */
  extensionSector: number;
}

const fail = (kind: DiskImgError['kind'], message: string, field: string, offset: number, value?: number | string) => {
  throw new DiskImgError(kind, message, { field, offset, value });
};

export function isParallels(head: Uint8Array): boolean {
  if (head.length < HEADER_BYTES) return false;
  const magic = latin1(head.subarray(0, 16));
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  return (magic === MAGIC_V1 || magic === MAGIC_EXT) && view.getUint32(16, true) === 2;
}

/** parallels_open's checks, in its order and words. */
export function parseHeader(head: Uint8Array): ParallelsHeader {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const magic = latin1(head.subarray(0, 16));
  const version = view.getUint32(16, true);
  if (version !== 2) fail('invalid-format', 'Image not in Parallels format', 'version', 16, version);
  if (magic !== MAGIC_V1 && magic !== MAGIC_EXT) fail('invalid-format', 'Image not in Parallels format', 'magic', 0, magic);
  const tracks = view.getUint32(28, true);
  if (tracks === 0) fail('invalid-format', 'Invalid image: Zero sectors per track', 'tracks', 28, 0);
  if (tracks > Math.floor(INT_MAX / 513)) fail('limit', 'Invalid image: Too big cluster', 'tracks', 28, tracks);
  const batEntries = view.getUint32(32, true);
  if (batEntries > Math.floor(INT_MAX / 4)) fail('limit', 'Catalog too large', 'bat_entries', 32, batEntries);
  const low = view.getUint32(36, true);
  const high = magic === MAGIC_V1 ? 0 : view.getUint32(40, true);
  // bdrv_getlength fails past INT64_MAX bytes; we stop at what a JS number holds exactly.
  if (high >= 1 << 22)
    fail(
      'limit',
      'Could not refresh total sector count: File too large',
      'nb_sectors',
      36,
      `0x${((BigInt(high) << 32n) | BigInt(low)).toString(16)}`,
    );
  if (high * 2 ** 32 * 512 > Number.MAX_SAFE_INTEGER)
    fail(
      'limit',
      `Parallels image of ${high * 2 ** 32 + low} sectors is larger than diskimg reads`,
      'nb_sectors',
      36,
      high * 2 ** 32 + low,
    );
  return {
    magic,
    tracks,
    batEntries,
    sectors: high * 2 ** 32 + low,
    inUse: view.getUint32(44, true) === INUSE_MAGIC,
    dataOffsetSectors: view.getUint32(48, true),
    offsetMultiplier: magic === MAGIC_V1 ? 1 : tracks,
    extensionSector: view.getUint32(56, true) + view.getUint32(60, true) * 2 ** 32,
  };
}
