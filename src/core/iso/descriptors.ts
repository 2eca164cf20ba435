/**
 * ISO 9660 (ECMA-119) volume descriptors: the primary one, supplementary ones (Joliet), the El
 * Torito boot record and the set terminator, read from sector 16 on.
 */
import { DiskImgError } from '../errors.ts';
import type { Storage } from '../storage/storage.ts';

export const SECTOR = 2048;
const FIRST_DESCRIPTOR = 16;
/** More descriptors than any real disc has; past it the set is considered unterminated. */
const MAX_DESCRIPTORS = 64;

export interface DirectoryRef {
  extent: number;
  size: number;
}

export interface VolumeDescriptor {
  type: 'primary' | 'supplementary';
  /** Joliet level (1–3) for a supplementary descriptor with Joliet's escape sequences. */
  joliet?: number;
  /** An ISO 9660:1999 enhanced volume descriptor (type 2, version 2): longer plain names, no version suffix. */
  enhanced?: boolean;
  systemId: string;
  volumeId: string;
  volumeSetId: string;
  publisherId: string;
  preparerId: string;
  applicationId: string;
  copyrightFileId: string;
  abstractFileId: string;
  bibliographicFileId: string;
  volumeSpaceSize: number;
  volumeSetSize: number;
  volumeSequenceNumber: number;
  logicalBlockSize: number;
  pathTableSize: number;
  pathTableL: number;
  pathTableM: number;
  root: DirectoryRef;
  creationDate: string | null;
  modificationDate: string | null;
  expirationDate: string | null;
  effectiveDate: string | null;
  fileStructureVersion: number;
  /** Byte offset of the descriptor in the image. */
  offset: number;
}

export interface Descriptors {
  primary: VolumeDescriptor;
  supplementary: VolumeDescriptor[];
  /** The El Torito boot catalog's sector, when a boot record names one. */
  bootCatalog?: number;
  /** Byte offsets of every descriptor, terminator included (for the disc picture). */
  offsets: number[];
}

const le16 = (b: Uint8Array, at: number) => b[at] | (b[at + 1] << 8);
const le32 = (b: Uint8Array, at: number) => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16)) + b[at + 3] * 0x1000000;

export const u32 = le32;
export const u16 = le16;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/**
 * A d-/a-character field as text: UCS-2 BE on Joliet; else UTF-8 when the bytes are valid UTF-8
 * (genisoimage -input-charset utf-8 and xorriso write UTF-8 labels), Latin-1 otherwise. A UTF-8
 * sequence cut by the end of the field is dropped, not turned into Latin-1 mojibake.
 */
function text(b: Uint8Array, at: number, length: number, ucs2: boolean): string {
  let out = '';
  if (ucs2) {
    for (let i = 0; i + 1 < length; i += 2) out += String.fromCharCode((b[at + i] << 8) | b[at + i + 1]);
  } else {
    const field = b.subarray(at, at + length);
    out = latin1.decode(field);
    if (field.some((x) => x >= 0x80)) {
      for (let cut = 0; cut < 4; cut++) {
        try {
          out = strictUtf8.decode(field.subarray(0, length - cut));
          break;
        } catch {
          // not UTF-8 (yet): try without a cut-off last sequence, else keep Latin-1
        }
      }
    }
  }
  return out.replace(/[\s\0]+$/, '');
}

/** A 17-byte dec-datetime as ISO 8601 with its GMT offset, or null where all digits are zero. */
export function decDateTime(b: Uint8Array, at: number): string | null {
  const digits = String.fromCharCode(...b.subarray(at, at + 16));
  if (!/^\d{16}$/.test(digits) || /^0+$/.test(digits)) return null;
  const offset = (b[at + 16] << 24) >> 24; // signed, in 15-minute steps
  return `${digits.slice(0, 4)}-${digits.slice(4, 6)}-${digits.slice(6, 8)}T${digits.slice(8, 10)}:${digits.slice(10, 12)}:${digits.slice(12, 14)}.${digits.slice(14, 16)}${zone(offset)}`;
}

/** The 7-byte date of a directory record (or Rock Ridge TF short form) as ISO 8601. */
export function recordDate(b: Uint8Array, at: number): string | null {
  if (b.subarray(at, at + 6).every((x) => x === 0)) return null;
  const pad = (n: number) => String(n).padStart(2, '0');
  const offset = (b[at + 6] << 24) >> 24;
  return `${1900 + b[at]}-${pad(b[at + 1])}-${pad(b[at + 2])}T${pad(b[at + 3])}:${pad(b[at + 4])}:${pad(b[at + 5])}${zone(offset)}`;
}

function zone(quarters: number): string {
  if (quarters === 0) return 'Z';
  const minutes = Math.abs(quarters) * 15;
  return `${quarters < 0 ? '-' : '+'}${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

function jolietLevel(b: Uint8Array): number | undefined {
  const escapes = String.fromCharCode(...b.subarray(88, 91));
  return escapes === '%/@' ? 1 : escapes === '%/C' ? 2 : escapes === '%/E' ? 3 : undefined;
}

const ROOT_RECORD = 156;

function checkRoot(volume: VolumeDescriptor, storage: Storage): void {
  if (volume.root.extent * SECTOR >= storage.size) {
    throw new DiskImgError(
      'invalid-format',
      `The root directory of the ${volume.type} volume descriptor lies at sector ${volume.root.extent}, past the end of the image (${storage.size} bytes)`,
      { file: storage.name, field: 'root directory extent', offset: volume.offset + ROOT_RECORD + 2, value: volume.root.extent },
    );
  }
}

function parseVolume(b: Uint8Array, offset: number, type: 'primary' | 'supplementary', name: string): VolumeDescriptor {
  const joliet = type === 'supplementary' ? jolietLevel(b) : undefined;
  const ucs2 = joliet !== undefined;
  const blockSize = le16(b, 128);
  if (blockSize !== SECTOR) {
    // Every real disc uses 2048; other sizes are legal in ECMA-119 but would break our offsets.
    throw new DiskImgError('unsupported', `ISO 9660 logical block size ${blockSize} is not supported (only 2048)`, {
      file: name,
      field: 'logical block size',
      offset: offset + 128,
      value: blockSize,
    });
  }
  const root = { extent: le32(b, ROOT_RECORD + 2), size: le32(b, ROOT_RECORD + 10) };
  return {
    type,
    joliet,
    ...(type === 'supplementary' && b[6] === 2 ? { enhanced: true } : {}),
    systemId: text(b, 8, 32, ucs2),
    volumeId: text(b, 40, 32, ucs2),
    volumeSetId: text(b, 190, 128, ucs2),
    publisherId: text(b, 318, 128, ucs2),
    preparerId: text(b, 446, 128, ucs2),
    applicationId: text(b, 574, 128, ucs2),
    copyrightFileId: text(b, 702, 37, ucs2),
    abstractFileId: text(b, 739, 37, ucs2),
    bibliographicFileId: text(b, 776, 37, ucs2),
    volumeSpaceSize: le32(b, 80),
    volumeSetSize: le16(b, 120),
    volumeSequenceNumber: le16(b, 124),
    logicalBlockSize: blockSize,
    pathTableSize: le32(b, 132),
    pathTableL: le32(b, 140),
    pathTableM: ((b[148] << 24) >>> 0) + (b[149] << 16) + (b[150] << 8) + b[151],
    root,
    creationDate: decDateTime(b, 813),
    modificationDate: decDateTime(b, 830),
    expirationDate: decDateTime(b, 847),
    effectiveDate: decDateTime(b, 864),
    fileStructureVersion: b[881],
    offset,
  };
}

export function isIso9660(sector16: Uint8Array): boolean {
  return String.fromCharCode(...sector16.subarray(1, 6)) === 'CD001';
}

export async function readDescriptors(storage: Storage): Promise<Descriptors> {
  let primary: VolumeDescriptor | undefined;
  const supplementary: VolumeDescriptor[] = [];
  const offsets: number[] = [];
  let bootCatalog: number | undefined;
  for (let i = 0; i < MAX_DESCRIPTORS; i++) {
    const offset = (FIRST_DESCRIPTOR + i) * SECTOR;
    if (offset + SECTOR > storage.size) {
      throw new DiskImgError(
        'invalid-format',
        `The ISO 9660 volume descriptor set is cut short: the image ends at ${storage.size} bytes, before its terminator`,
        { file: storage.name, offset },
      );
    }
    const b = await storage.read(offset, SECTOR);
    if (!isIso9660(b)) {
      throw new DiskImgError(
        'invalid-format',
        `Sector ${FIRST_DESCRIPTOR + i} is not an ISO 9660 volume descriptor (no CD001 signature) and no terminator came before it`,
        { file: storage.name, field: 'standard identifier', offset: offset + 1 },
      );
    }
    offsets.push(offset);
    const type = b[0];
    if (type === 255) break;
    if (type === 0 && text(b, 7, 32, false).startsWith('EL TORITO SPECIFICATION')) bootCatalog = le32(b, 71);
    else if (type === 1 && !primary) primary = parseVolume(b, offset, 'primary', storage.name);
    else if (type === 2) supplementary.push(parseVolume(b, offset, 'supplementary', storage.name));
    if (i === MAX_DESCRIPTORS - 1)
      throw new DiskImgError('limit', `More than ${MAX_DESCRIPTORS} ISO 9660 volume descriptors without a terminator`, {
        file: storage.name,
        offset,
      });
  }
  if (!primary)
    throw new DiskImgError('invalid-format', 'The ISO 9660 image has no primary volume descriptor', {
      file: storage.name,
      offset: FIRST_DESCRIPTOR * SECTOR,
    });
  for (const volume of [primary, ...supplementary]) checkRoot(volume, storage);
  return { primary, supplementary, bootCatalog, offsets };
}
