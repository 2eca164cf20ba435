/**
 * The VHDX header section (MS-VHDX 2.2): the file type identifier, the two headers (the valid one
 * with the highest sequence number wins) and the region table, as block/vhdx.c reads them.
 */
import { DiskImgError } from '../../errors.ts';
import type { Storage } from '../../storage/storage.ts';
import { checksumValid } from './crc32c.ts';
import { guidString, isZeroGuid, le32, le64n, leGuid } from './fields.ts';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const HEADER1_OFFSET = 64 * KiB;
export const HEADER2_OFFSET = 128 * KiB;
export const HEADER_SIZE = 4 * KiB;
export const REGION_TABLE_OFFSET = 192 * KiB;
export const REGION_TABLE2_OFFSET = 256 * KiB;
export const REGION_TABLE_SIZE = 64 * KiB;

const HEADER_SIGNATURE = 0x64616568; // "head"
const REGION_SIGNATURE = 0x69676572; // "regi"
const REGION_ENTRY_REQUIRED = 1;
export const BAT_GUID = '2dc27766-f623-4200-9d64-115e9bfd4a08';
export const METADATA_GUID = '8b7ca206-4790-4b9a-b8fe-575f050f886e';

export interface VhdxHeader {
  /** Which copy: 0 at 64 KiB, 1 at 128 KiB. */
  index: 0 | 1;
  sequenceNumber: bigint;
  fileWriteGuid: string;
  dataWriteGuid: string;
  logGuid: string;
  /** The log GUID as stored (log entries must carry these bytes). */
  logGuidBytes: Uint8Array;
  logVersion: number;
  version: number;
  logLength: number;
  logOffset: number;
}

export interface Region {
  guid: string;
  fileOffset: number;
  length: number;
  required: boolean;
}

export const invalid = (message: string, context: Record<string, unknown>): never => {
  throw new DiskImgError('invalid-format', `VHDX: ${message}`, context);
};

function parseHeader(bytes: Uint8Array, index: 0 | 1): VhdxHeader | null {
  if (!checksumValid(bytes, 4)) return null;
  if (le32(bytes, 0) !== HEADER_SIGNATURE || (bytes[66] | (bytes[67] << 8)) !== 1) return null;
  const logOffset = le64n(bytes, 72);
  return {
    index,
    sequenceNumber: le64n(bytes, 8),
    fileWriteGuid: guidString(bytes, 16),
    dataWriteGuid: guidString(bytes, 32),
    logGuid: guidString(bytes, 48),
    logGuidBytes: bytes.slice(48, 64),
    logVersion: bytes[64] | (bytes[65] << 8),
    version: 1,
    logLength: le32(bytes, 68),
    logOffset: logOffset > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(logOffset),
  };
}

/** The file identifier's signature, then the current header (vhdx_parse_header). */
export async function readHeader(storage: Storage): Promise<VhdxHeader> {
  const id = await storage.read(0, 8);
  if (String.fromCharCode(...id) !== 'vhdxfile')
    invalid("the file type identifier is not 'vhdxfile'", { file: storage.name, field: 'signature', offset: 0 });
  const raw1 = await storage.read(HEADER1_OFFSET, HEADER_SIZE);
  const raw2 = await storage.read(HEADER2_OFFSET, HEADER_SIZE);
  const h1 = parseHeader(raw1, 0);
  const h2 = parseHeader(raw2, 1);
  const none = () =>
    new DiskImgError('corrupt', 'No valid VHDX header found', { file: storage.name, field: 'header', offset: HEADER1_OFFSET });
  if (!h1 && !h2) throw none();
  if (h1 && !h2) return h1;
  if (h2 && !h1) return h2;
  if (h1!.sequenceNumber > h2!.sequenceNumber) return h1!;
  if (h2!.sequenceNumber > h1!.sequenceNumber) return h2!;
  // Disk2VHD writes two identical headers with one sequence number: that is not corrupt.
  for (let i = 0; i < 80; i++) if (raw1[i] !== raw2[i]) throw none();
  return h1!;
}

/** Whether the header names a log (a non-zero log GUID and length). */
export function hasLog(header: VhdxHeader): boolean {
  return !isZeroGuid(header.logGuid) && header.logLength !== 0;
}

/**
 * The region table: the first copy, or the second where the first fails its checksum or
 * signature (qemu reads only the first).
 */
export async function readRegionTable(storage: Storage): Promise<{ regions: Region[]; bat: Region; metadata: Region }> {
  let table = await storage.read(REGION_TABLE_OFFSET, REGION_TABLE_SIZE);
  let at = REGION_TABLE_OFFSET;
  const good = (t: Uint8Array) => checksumValid(t, 4) && le32(t, 0) === REGION_SIGNATURE;
  if (!good(table)) {
    const copy = await storage.read(REGION_TABLE2_OFFSET, REGION_TABLE_SIZE);
    if (!good(copy)) {
      const what = checksumValid(table, 4) ? "signature is not 'regi'" : 'checksum is wrong';
      invalid(`the region table's ${what} (and its copy's too)`, {
        file: storage.name,
        field: 'region table',
        offset: REGION_TABLE_OFFSET,
      });
    }
    table = copy;
    at = REGION_TABLE2_OFFSET;
  }
  const count = le32(table, 8);
  // Per spec, at most 2047 entries.
  if (count > 2047)
    invalid(`the region table has ${count} entries (at most 2047)`, {
      file: storage.name,
      field: 'region table entry count',
      offset: at + 8,
      value: count,
    });
  const regions: Region[] = [];
  let bat: Region | undefined;
  let metadata: Region | undefined;
  for (let i = 0; i < count; i++) {
    const e = 16 + i * 32;
    const offset = le64n(table, e + 16);
    const region: Region = {
      guid: leGuid(table, e),
      fileOffset: offset > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(offset),
      length: le32(table, e + 24),
      required: (le32(table, e + 28) & REGION_ENTRY_REQUIRED) !== 0,
    };
    const where = { file: storage.name, field: `region table entry ${i}`, offset: at + e };
    if (region.guid === BAT_GUID) {
      if (bat) invalid('the region table lists the BAT twice', where);
      bat = region;
    } else if (region.guid === METADATA_GUID) {
      if (metadata) invalid('the region table lists the metadata region twice', where);
      metadata = region;
    } else if (region.required) {
      throw new DiskImgError('unsupported', `VHDX: region table entry ${i} is a required region of unknown type ${region.guid}`, {
        ...where,
        value: region.guid,
      });
    }
    regions.push(region);
  }
  if (!bat || !metadata)
    invalid(`the region table has no ${bat ? 'metadata region' : 'BAT'}`, { file: storage.name, field: 'region table', offset: at });
  return { regions, bat: bat!, metadata: metadata! };
}
