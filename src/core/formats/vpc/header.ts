/**
 * The dynamic disk header ("cxsparse", 1024 bytes at the footer's data offset) of dynamic and
 * differencing VHDs: the block allocation table's place and size, the block size, and for a
 * differencing disk its parent (UUID, name, and the platform locators that say where it is).
 */
import { be64, latin1, utf8, view } from '../../bytes.ts';
import { DiskImgError } from '../../errors.ts';
import type { Storage } from '../../storage/storage.ts';
import { formatUuid } from './footer.ts';

export const HEADER_SIZE = 1024;
const INT_MAX_QUARTER = Math.floor(0x7fffffff / 4);
/** No path is longer: Windows' long paths stop at 32767 UTF-16 units. */
const MAX_LOCATOR_BYTES = 65536;

export interface ParentLocator {
  /** 'W2ru', 'W2ku', 'MacX', 'Wi2r', 'Wi2k', 'Mac ' */
  platform: string;
  dataLength: number;
  dataOffset: number;
  /** Its header's offset in the file, for messages. */
  at: number;
}

export interface DynamicHeader {
  tableOffset: number;
  maxTableEntries: number;
  blockSize: number;
  bitmapSize: number;
  parentUuid: string;
  parentName: string;
  locators: ParentLocator[];
}

const invalid = (message: string, context: Record<string, unknown>): never => {
  throw new DiskImgError('invalid-format', message, context);
};

/** Parses and checks the header as qemu 7.2's vpc_open does, in its order and with its words. */
export function parseDynamicHeader(bytes: Uint8Array, at: number, virtualSectors: number): DynamicHeader {
  if (latin1(bytes.subarray(0, 8)) !== 'cxsparse')
    invalid('Invalid header magic', { field: 'dynamic header cookie', offset: at, value: latin1(bytes.subarray(0, 8)) });
  const v = view(bytes);
  const blockSize = v.getUint32(32);
  if (blockSize < 512 || (blockSize & (blockSize - 1)) !== 0)
    invalid(`Invalid block size ${blockSize}`, { field: 'block_size', offset: at + 32, value: blockSize });
  const maxTableEntries = v.getUint32(28);
  if (Math.floor((virtualSectors * 512) / blockSize) > 0xffffffff)
    invalid('Too many blocks', { field: 'block_size', offset: at + 32, value: blockSize });
  // (2^31 entries and more are negative to qemu: their product wraps to a huge size.)
  if (maxTableEntries < 0x80000000 && maxTableEntries * blockSize < virtualSectors * 512) {
    invalid('Page table too small', {
      field: 'max_table_entries',
      offset: at + 28,
      value: maxTableEntries,
      blockSize,
      virtualSize: virtualSectors * 512,
    });
  }
  // qemu holds the count in an int: 2^31 and more print negative.
  if (maxTableEntries > INT_MAX_QUARTER)
    invalid(`Max Table Entries too large (${maxTableEntries | 0})`, {
      field: 'max_table_entries',
      offset: at + 28,
      value: maxTableEntries,
    });
  const tableHi = v.getUint32(16);
  const locators: ParentLocator[] = [];
  for (let i = 0; i < 8; i++) {
    const base = 576 + i * 24;
    const code = v.getUint32(base);
    if (code === 0) continue;
    const hi = v.getUint32(base + 16);
    locators.push({
      platform: latin1(bytes.subarray(base, base + 4)),
      dataLength: v.getUint32(base + 8),
      dataOffset: hi >= 0x200000 ? Infinity : be64(v, base + 16),
      at: at + base,
    });
  }
  return {
    tableOffset: tableHi >= 0x200000 ? Infinity : be64(v, 16),
    maxTableEntries,
    blockSize,
    bitmapSize: Math.ceil(blockSize / (8 * 512) / 512) * 512,
    parentUuid: formatUuid(bytes.subarray(40, 56)),
    parentName: utf16(bytes.subarray(64, 576), false),
    locators,
  };
}

function utf16(bytes: Uint8Array, littleEndian: boolean): string {
  let end = 0;
  while (end + 1 < bytes.length && (bytes[end] | bytes[end + 1]) !== 0) end += 2;
  return new TextDecoder(littleEndian ? 'utf-16le' : 'utf-16be').decode(bytes.subarray(0, end));
}

/** Locators in the order we try them: a relative path first, it survives the disks being moved. */
const PREFERENCE = ['W2ru', 'MacX', 'W2ku'];

/**
 * The parent's file name from the locators: a Windows relative path (UTF-16LE, backslashes made
 * slashes, './' dropped), a Mac OS X file URL (UTF-8), a Windows absolute path (UTF-16LE), else the
 * header's parent name (UTF-16BE). qemu-img reads none of them: it opens a differencing disk as
 * if it were dynamic, without its parent.
 */
export async function parentFileName(storage: Storage, header: DynamicHeader): Promise<string> {
  const ordered = [...header.locators]
    .filter((l) => PREFERENCE.includes(l.platform))
    .sort((a, b) => PREFERENCE.indexOf(a.platform) - PREFERENCE.indexOf(b.platform));
  for (const locator of ordered) {
    if (locator.dataLength === 0) continue;
    if (locator.dataLength > MAX_LOCATOR_BYTES || locator.dataOffset + locator.dataLength > storage.size) {
      throw new DiskImgError(
        'corrupt',
        `VHD parent locator '${locator.platform}' (${locator.dataLength} bytes at ${locator.dataOffset}) lies past the end of the file`,
        { field: 'parent locator', offset: locator.at, value: locator.dataOffset },
      );
    }
    const bytes = await storage.read(locator.dataOffset, locator.dataLength);
    const name = locator.platform === 'MacX' ? fileUrlPath(utf8(bytes).replace(/\0+$/, '')) : utf16(bytes, true);
    if (name === '') continue;
    return locator.platform === 'W2ru' ? name.replace(/\\/g, '/').replace(/^(\.\/)+/, '') : name;
  }
  if (header.parentName !== '') return header.parentName;
  throw new DiskImgError('invalid-format', 'VHD differencing disk names no parent: no parent locator and no parent name', {
    field: 'parent locator',
    offset: 576,
  });
}

/** 'file://localhost/Users/a/b.vhd' → '/Users/a/b.vhd'. */
function fileUrlPath(url: string): string {
  const match = /^file:\/\/(?:localhost)?(\/.*)$/i.exec(url);
  if (!match) return url;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return match[1];
  }
}
