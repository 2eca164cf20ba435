/**
 * The VHD hard disk footer (Microsoft's "Virtual Hard Disk Image Format Specification"): 512
 * big-endian bytes at the end of every VHD, copied to the start of dynamic and differencing ones.
 * What the virtual size is follows qemu 7.2's vpc_open: CHS geometry or current_size, by creator.
 */
import { be64, latin1, view } from '../../bytes.ts';
import { DiskImgError } from '../../errors.ts';

export const FOOTER_SIZE = 512;
export const COOKIE = 'conectix';

export const TYPE_FIXED = 2;
export const TYPE_DYNAMIC = 3;
export const TYPE_DIFFERENCING = 4;

/** 65535 cylinders × 16 heads × 255 sectors: the geometry qemu writes with force_size=on. */
const MAX_GEOMETRY = 65535 * 16 * 255;
/** qemu refuses more than 2040 GiB. */
export const MAX_SECTORS = 0xff000000;

/** Where the fields lie in the footer. */
export const FOOTER_FIELDS = {
  cookie: 0,
  dataOffset: 16,
  creatorApp: 28,
  currentSize: 48,
  geometry: 56,
  type: 60,
  checksum: 64,
  uuid: 68,
} as const;

export interface VhdFooter {
  creatorApp: string;
  creatorOs: string;
  /** Offset of the dynamic disk header; exact while below 2^53 (beyond: Infinity, past any file). */
  dataOffset: number;
  currentSize: number;
  cylinders: number;
  heads: number;
  sectorsPerTrack: number;
  type: number;
  checksum: number;
  uuid: string;
}

/** One's complement of the byte sum with the checksum field taken as zero. */
export function footerChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < FOOTER_SIZE; i++) if (i < FOOTER_FIELDS.checksum || i >= FOOTER_FIELDS.checksum + 4) sum += bytes[i];
  return ~sum >>> 0;
}

export const hasCookie = (bytes: Uint8Array): boolean => bytes.length >= 8 && latin1(bytes.subarray(0, 8)) === COOKIE;

export function parseFooter(bytes: Uint8Array): VhdFooter {
  const v = view(bytes);
  const hi = v.getUint32(FOOTER_FIELDS.dataOffset);
  return {
    creatorApp: latin1(bytes.subarray(28, 32)),
    creatorOs: latin1(bytes.subarray(36, 40)),
    dataOffset: hi >= 0x200000 ? Infinity : be64(v, FOOTER_FIELDS.dataOffset),
    currentSize: be64(v, FOOTER_FIELDS.currentSize),
    cylinders: v.getUint16(56),
    heads: bytes[58],
    sectorsPerTrack: bytes[59],
    type: v.getUint32(FOOTER_FIELDS.type),
    checksum: v.getUint32(FOOTER_FIELDS.checksum),
    uuid: formatUuid(bytes.subarray(FOOTER_FIELDS.uuid, FOOTER_FIELDS.uuid + 16)),
  };
}

export function formatUuid(bytes: Uint8Array): string {
  const h = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Virtual PC and qemu's own 'qemu' images are as large as their CHS geometry says; Hyper-V,
 * Disk2vhd, XenServer, XenConverter and qemu's force_size images ('qem2') as current_size says.
 * A geometry of the maximum size also means current_size. Whole sectors, as qemu counts them.
 */
export function virtualSectors(footer: VhdFooter): number {
  const chs = footer.cylinders * footer.heads * footer.sectorsPerTrack;
  const useChs = !['win ', 'qem2', 'd2v ', 'CTXS', 'tap\0'].includes(footer.creatorApp);
  return !useChs || chs === MAX_GEOMETRY ? Math.floor(footer.currentSize / 512) : chs;
}

/**
 * The footer as qemu checks it on open: a bad checksum is refused, and so is a disk over 2040 GiB.
 */
export function checkFooter(footer: VhdFooter, bytes: Uint8Array, at: number): number {
  if (footerChecksum(bytes) !== footer.checksum) {
    throw new DiskImgError('corrupt', 'Incorrect header checksum', {
      field: 'footer checksum',
      offset: at + FOOTER_FIELDS.checksum,
      value: footer.checksum,
    });
  }
  const sectors = virtualSectors(footer);
  if (sectors > MAX_SECTORS) {
    throw new DiskImgError('limit', `File too large: the VHD footer's disk size (${sectors} sectors) is over qemu's 2040 GiB`, {
      field: 'current_size',
      offset: at + FOOTER_FIELDS.currentSize,
      value: sectors * 512,
    });
  }
  return sectors;
}

/**
 * A fixed VHD, recognised by its footer alone (qemu's probe looks only at the start and calls it
 * raw): cookie, checksum, disk type 2, and a current size that is the file less its footer.
 */
export function isFixedFooter(bytes: Uint8Array, fileSize: number): boolean {
  if (bytes.length < FOOTER_SIZE || !hasCookie(bytes)) return false;
  const footer = parseFooter(bytes);
  return footer.type === TYPE_FIXED && footerChecksum(bytes) === footer.checksum && footer.currentSize + FOOTER_SIZE === fileSize;
}
