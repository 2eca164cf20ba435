/**
 * The parts of a UDIF image (.dmg) QEMU reads (block/dmg.c): the 512-byte "koly" trailer near the
 * end of the file, then the chunk tables ("mish" blocks) from the resource fork or, in newer
 * images, from the base64 <data> elements of the XML property list (found by text search, as QEMU
 * does: no XML parser). Chunk types: zeros, raw, ignored, zlib, bzip2, lzfse; others are skipped.
 */
import { DiskImgError } from '../../errors.ts';
import type { Storage } from '../../storage/storage.ts';

export const CHUNK_ZERO = 0;
export const CHUNK_RAW = 1;
export const CHUNK_IGNORE = 2;
export const CHUNK_ZLIB = 0x80000005;
export const CHUNK_BZIP2 = 0x80000006;
export const CHUNK_LZFSE = 0x80000007;
const KNOWN = new Set([CHUNK_ZERO, CHUNK_RAW, CHUNK_IGNORE, CHUNK_ZLIB, CHUNK_BZIP2, CHUNK_LZFSE]);

/** QEMU's bounds on one chunk (DMG_LENGTHS_MAX, DMG_SECTORCOUNTS_MAX). */
const MAX_LENGTH = 64 << 20;
const MAX_SECTORS = MAX_LENGTH / 512;
const MAX_XML = 16 << 20;
/** Chunks kept at most: far more than a real image has (a 16 MiB plist holds ~300 000). */
const MAX_CHUNKS = 4 << 20;

export interface Chunk {
  type: number;
  /** First guest sector and sector count. */
  sector: number;
  sectors: number;
  /** Where its bytes are in the file, and how many. */
  offset: number;
  length: number;
}

export interface DmgTables {
  sectors: number;
  chunks: Chunk[];
}

const invalid = (message: string, field: string, offset?: number, value?: number | string): never => {
  throw new DiskImgError('invalid-format', message, { field, offset, value });
};

/** A big-endian u64 as a number; values past 2^53 become Infinity so every bound check fails them. */
function u64(view: DataView, at: number): number {
  const value = view.getBigUint64(at);
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(value);
}

/** dmg_find_koly_offset: "koly" in the last 511 bytes of the second-last sector or the last sector's first 4. */
export async function findKoly(storage: Storage): Promise<number | null> {
  const length = Math.ceil(storage.size / 512) * 512;
  if (length < 512) return null;
  const offset = length > 511 + 512 ? length - 511 - 512 : 0;
  const bytes = await storage.read(offset, Math.min(length, 515));
  for (let i = 0; i + 3 < bytes.length; i++)
    if (bytes[i] === 0x6b && bytes[i + 1] === 0x6f && bytes[i + 2] === 0x6c && bytes[i + 3] === 0x79) return offset + i;
  return null;
}

export async function readTables(storage: Storage): Promise<DmgTables> {
  if (Math.ceil(storage.size / 512) * 512 < 512) invalid('dmg file must be at least 512 bytes long', 'koly');
  const koly = await findKoly(storage);
  if (koly === null) invalid('Could not locate UDIF trailer in dmg file', 'koly');
  const at = koly!;
  const view = new DataView((await storage.read(at, 512)).slice().buffer);
  const dataFork = u64(view, 0x18);
  if (dataFork > at) invalid(`DMG data fork offset ${dataFork} lies past the UDIF trailer at ${at}`, 'DataForkOffset', at + 0x18, dataFork);
  const rsrcOffset = u64(view, 0x28);
  const rsrcLength = u64(view, 0x30);
  if (rsrcOffset >= at || rsrcLength > at - rsrcOffset)
    invalid(
      `DMG resource fork (offset ${rsrcOffset}, ${rsrcLength} bytes) does not lie before the UDIF trailer`,
      'RsrcForkOffset',
      at + 0x28,
      rsrcOffset,
    );
  const xmlOffset = u64(view, 0xd8);
  const xmlLength = u64(view, 0xe0);
  if (xmlOffset >= at || xmlLength > at - xmlOffset)
    invalid(
      `DMG property list (offset ${xmlOffset}, ${xmlLength} bytes) does not lie before the UDIF trailer`,
      'XMLOffset',
      at + 0xd8,
      xmlOffset,
    );
  const sectorsBig = view.getBigUint64(0x1ec);
  if (sectorsBig >= 1n << 63n) invalid('DMG sector count is negative', 'SectorCount', at + 0x1ec, `0x${sectorsBig.toString(16)}`);
  if (sectorsBig * 512n > BigInt(Number.MAX_SAFE_INTEGER))
    throw new DiskImgError('limit', `DMG disk of ${sectorsBig} sectors is larger than diskimg reads`, {
      field: 'SectorCount',
      offset: at + 0x1ec,
      value: sectorsBig.toString(),
    });
  const chunks: Chunk[] = [];
  const state = { dataFork };
  if (rsrcLength !== 0) await readResourceFork(storage, rsrcOffset, rsrcLength, chunks, state);
  else if (xmlLength !== 0) await readPlist(storage, xmlOffset, xmlLength, chunks, state);
  else invalid('DMG has neither a resource fork nor a property list', 'RsrcForkLength', at + 0x30, 0);
  return { sectors: Number(sectorsBig), chunks };
}

/** dmg_read_resource_fork: a header naming the resource data, then [u32 length][block] after block. */
async function readResourceFork(
  storage: Storage,
  begin: number,
  length: number,
  chunks: Chunk[],
  state: { dataFork: number },
): Promise<void> {
  const head = new DataView((await storage.read(begin, 12)).slice().buffer);
  const dataOffset = head.getUint32(0);
  if (dataOffset > length)
    invalid(`DMG resource data offset ${dataOffset} lies past the resource fork (${length} bytes)`, 'resource fork', begin, dataOffset);
  const count = head.getUint32(8);
  if (count === 0 || dataOffset + count > length)
    invalid(`DMG resource data length ${count} does not fit the resource fork (${length} bytes)`, 'resource fork', begin + 8, count);
  let offset = begin + dataOffset;
  const end = offset + count;
  while (offset < end) {
    const size = new DataView((await storage.read(offset, 4)).slice().buffer).getUint32(0);
    if (size === 0 || size > end - offset)
      invalid(`DMG resource of ${size} bytes at offset ${offset} does not fit the resource data`, 'resource fork', offset, size);
    offset += 4;
    readMish(await storage.read(offset, size), chunks, state);
    offset += size;
  }
}

/** dmg_read_plist_xml: every <data>…</data>, base64-decoded, is tried as a mish block. */
async function readPlist(storage: Storage, begin: number, length: number, chunks: Chunk[], state: { dataFork: number }): Promise<void> {
  if (length > MAX_XML)
    throw new DiskImgError('limit', `DMG property list of ${length} bytes is larger than QEMU reads (16 MiB)`, {
      field: 'XMLLength',
      value: length,
    });
  const bytes = await storage.read(begin, length);
  // QEMU searches a C string: it ends at the first NUL.
  const nul = bytes.indexOf(0);
  const text = new TextDecoder('latin1').decode(nul < 0 ? bytes : bytes.subarray(0, nul));
  let from = 0;
  for (;;) {
    const open = text.indexOf('<data>', from);
    if (open < 0) return;
    const close = text.indexOf('</data>', open + 6);
    if (close < 0) invalid('DMG property list has a <data> element without its end', 'XMLOffset', begin + open);
    readMish(base64(text.slice(open + 6, close)), chunks, state);
    from = close + 7;
  }
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DECODE = (() => {
  const table = new Int8Array(256).fill(-1);
  for (let i = 0; i < 64; i++) table[ALPHABET.charCodeAt(i)] = i;
  return table;
})();

/** GLib's g_base64_decode: characters outside the alphabet are skipped, '=' ends the data. */
function base64(text: string): Uint8Array {
  const out = new Uint8Array(Math.floor((text.length * 3) / 4) + 3);
  let n = 0;
  let value = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x3d) break;
    const digit = code < 256 ? DECODE[code] : -1;
    if (digit < 0) continue;
    value = (value << 6) | digit;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (value >> bits) & 0xff;
    }
  }
  return out.subarray(0, n);
}

/** dmg_read_mish_block: chunks after 204 bytes, 40 bytes each; not a mish block (or too short): skipped. */
function readMish(block: Uint8Array, chunks: Chunk[], state: { dataFork: number }): void {
  if (block.length < 244) return;
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  if (view.getUint32(0) !== 0x6d697368) return;
  const firstSector = u64(view, 8);
  const inOffset = state.dataFork + u64(view, 0x18);
  const count = Math.floor((block.length - 204) / 40);
  for (let i = 0; i < count; i++) {
    const at = 204 + i * 40;
    const type = view.getUint32(at);
    if (!KNOWN.has(type)) continue;
    const index = chunks.length;
    const sectors = u64(view, at + 0x10);
    if (type !== CHUNK_ZERO && type !== CHUNK_IGNORE && sectors > MAX_SECTORS) {
      invalid(`sector count ${sectors} for chunk ${index} is larger than max (${MAX_SECTORS})`, 'mish chunk', undefined, sectors);
    }
    const length = u64(view, at + 0x20);
    if (length > MAX_LENGTH)
      invalid(`length ${length} for chunk ${index} is larger than max (${MAX_LENGTH})`, 'mish chunk', undefined, length);
    if (chunks.length >= MAX_CHUNKS)
      throw new DiskImgError('limit', `DMG has more than ${MAX_CHUNKS} chunks`, { field: 'mish chunk', value: chunks.length });
    chunks.push({ type, sector: u64(view, at + 8) + firstSector, sectors, offset: u64(view, at + 0x18) + inOffset, length });
  }
}
