/**
 * The metadata region (MS-VHDX 2.6): file parameters, virtual disk size, page 83 data, logical and
 * physical sector sizes and, for a differencing disk, the parent locator (vhdx_parse_metadata).
 */
import { DiskImgError } from '../../errors.ts';
import type { Storage } from '../../storage/storage.ts';
import { MiB, invalid, type Region } from './header.ts';
import { le16, le32, le64n, leGuid, utf16le } from './fields.ts';

const TABLE_MAX = 64 * 1024;
const IS_REQUIRED = 0x04;
export const FILE_PARAMETERS = 'caa16737-fa36-4d43-b3b6-33f0aa44e76b';
export const VIRTUAL_DISK_SIZE = '2fa54224-cd1b-4876-b211-5dbed83bf4b8';
export const PAGE83 = 'beca12ab-b2e6-4523-93ef-c309e000c746';
export const LOGICAL_SECTOR = '8141bf1d-a96f-4709-ba47-f233a8faab5f';
export const PHYSICAL_SECTOR = 'cda348c7-445d-4471-9cc9-e9885251c556';
const PARENT_LOCATOR = 'a8d35f2d-b30b-454d-abf7-d3d84834ab0c';
const ITEMS: Record<string, string> = {
  [FILE_PARAMETERS]: 'file parameters',
  [VIRTUAL_DISK_SIZE]: 'virtual disk size',
  [PAGE83]: 'page 83 data',
  [LOGICAL_SECTOR]: 'logical sector size',
  [PHYSICAL_SECTOR]: 'physical sector size',
  [PARENT_LOCATOR]: 'parent locator',
};
export const BLOCK_SIZE_MIN = MiB;
export const BLOCK_SIZE_MAX = 256 * MiB;
/** A parent locator bigger than this is not one (Hyper-V's are a few hundred bytes). */
const LOCATOR_MAX = 64 * 1024;

export interface VhdxMetadata {
  blockSize: number;
  leaveBlocksAllocated: boolean;
  hasParent: boolean;
  /** The virtual disk size as stored (bytes). */
  virtualDiskSize: number;
  logicalSectorSize: number;
  physicalSectorSize: number;
  page83: string;
  /** The parent locator's keys and values (differencing disks). */
  parentLocator?: Map<string, string>;
  parentLocatorType?: string;
}

const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;

export async function readMetadata(storage: Storage, region: Region): Promise<VhdxMetadata> {
  const base = region.fileOffset;
  const table = await storage.read(base, TABLE_MAX);
  const file = storage.name;
  if (String.fromCharCode(...table.subarray(0, 8)) !== 'metadata')
    invalid("the metadata table's signature is not 'metadata'", { file, field: 'metadata table', offset: base });
  const count = le16(table, 10);
  if (count * 32 > TABLE_MAX - 32)
    invalid(`the metadata table has ${count} entries (at most 2047)`, {
      file,
      field: 'metadata entry count',
      offset: base + 10,
      value: count,
    });
  const items = new Map<string, { offset: number; length: number; at: number }>();
  for (let i = 0; i < count; i++) {
    const e = 32 + i * 32;
    const id = leGuid(table, e);
    const entry = { offset: le32(table, e + 16), length: le32(table, e + 20), at: base + e };
    const flags = le32(table, e + 24);
    if (ITEMS[id]) {
      if (items.has(id))
        invalid(`the metadata table lists the ${ITEMS[id]} twice`, { file, field: `metadata entry ${i}`, offset: base + e });
      items.set(id, entry);
    } else if (flags & IS_REQUIRED) {
      throw new DiskImgError('unsupported', `VHDX: metadata entry ${i} is a required item of unknown type ${id}`, {
        file,
        field: `metadata entry ${i}`,
        offset: base + e,
        value: id,
      });
    }
  }
  for (const id of [FILE_PARAMETERS, VIRTUAL_DISK_SIZE, PAGE83, LOGICAL_SECTOR, PHYSICAL_SECTOR]) {
    if (!items.has(id))
      throw new DiskImgError('unsupported', `VHDX: the metadata table has no ${ITEMS[id]} item`, { file, field: ITEMS[id], offset: base });
  }
  const item = async (id: string, length: number) => storage.read(base + items.get(id)!.offset, length);
  const params = await item(FILE_PARAMETERS, 8);
  const sizeBytes = await item(VIRTUAL_DISK_SIZE, 8);
  const blockSize = le32(params, 0);
  const bits = le32(params, 4);
  const metadata: VhdxMetadata = {
    blockSize,
    leaveBlocksAllocated: (bits & 1) !== 0,
    hasParent: (bits & 2) !== 0,
    virtualDiskSize: 0,
    logicalSectorSize: le32(await item(LOGICAL_SECTOR, 4), 0),
    physicalSectorSize: le32(await item(PHYSICAL_SECTOR, 4), 0),
    page83: leGuid(await item(PAGE83, 16), 0),
  };
  const at = (id: string) => base + items.get(id)!.offset;
  if (metadata.hasParent) {
    if (!items.has(PARENT_LOCATOR))
      invalid('the file parameters say the disk has a parent, but there is no parent locator', {
        file,
        field: 'file parameters',
        offset: at(FILE_PARAMETERS) + 4,
        value: bits,
      });
    const { length } = items.get(PARENT_LOCATOR)!;
    if (length < 20 || length > LOCATOR_MAX)
      invalid(`the parent locator is ${length} bytes long`, {
        file,
        field: 'parent locator',
        offset: items.get(PARENT_LOCATOR)!.at + 20,
        value: length,
      });
    const locator = await item(PARENT_LOCATOR, length);
    metadata.parentLocatorType = leGuid(locator, 0);
    metadata.parentLocator = parseLocator(locator, file, at(PARENT_LOCATOR));
  }
  const size = le64n(sizeBytes, 0);
  if (size > BigInt(Number.MAX_SAFE_INTEGER))
    throw new DiskImgError('limit', `VHDX: virtual disk size ${size} is too large`, {
      file,
      field: 'virtual disk size',
      offset: at(VIRTUAL_DISK_SIZE),
      value: size,
    });
  metadata.virtualDiskSize = Number(size);
  if (blockSize < BLOCK_SIZE_MIN || blockSize > BLOCK_SIZE_MAX || !isPowerOfTwo(blockSize)) {
    invalid(`block size ${blockSize} is not a power of two from 1 MiB to 256 MiB`, {
      file,
      field: 'block size',
      offset: at(FILE_PARAMETERS),
      value: blockSize,
    });
  }
  if (metadata.logicalSectorSize !== 512 && metadata.logicalSectorSize !== 4096) {
    invalid(`logical sector size ${metadata.logicalSectorSize} is neither 512 nor 4096`, {
      file,
      field: 'logical sector size',
      offset: at(LOGICAL_SECTOR),
      value: metadata.logicalSectorSize,
    });
  }
  return metadata;
}

/** The parent locator's key/value pairs (UTF-16LE strings at offsets from the locator's start). */
function parseLocator(locator: Uint8Array, file: string, base: number): Map<string, string> {
  const count = le16(locator, 18);
  const out = new Map<string, string>();
  if (20 + count * 12 > locator.length)
    invalid(`the parent locator has ${count} entries, more than fit in its ${locator.length} bytes`, {
      file,
      field: 'parent locator key-value count',
      offset: base + 18,
      value: count,
    });
  const text = (offset: number, length: number, what: string, i: number) => {
    if (offset + length > locator.length)
      invalid(`parent locator entry ${i}'s ${what} lies outside the locator`, {
        file,
        field: `parent locator entry ${i}`,
        offset: base + 20 + i * 12,
        value: offset,
      });
    return utf16le(locator.subarray(offset, offset + length));
  };
  for (let i = 0; i < count; i++) {
    const e = 20 + i * 12;
    const key = text(le32(locator, e), le16(locator, e + 8), 'key', i);
    const value = text(le32(locator, e + 4), le16(locator, e + 10), 'value', i);
    out.set(key, value);
  }
  return out;
}
