/**
 * ISO 9660 directory records and the Rock Ridge entries in their system use areas (SUSP: SP, CE,
 * ST, ER; RRIP: PX, NM, SL, TF, RE, CL), with continuation areas followed under a budget.
 */
import { DiskImgError } from '../errors.ts';
import type { Storage } from '../storage/storage.ts';
import { decDateTime, recordDate, SECTOR, u32 } from './descriptors.ts';

export interface Extent {
  /** Byte offset in the image. */
  offset: number;
  length: number;
}

export interface RawRecord {
  /** Byte offset of the record in the image (for messages and the disc picture). */
  at: number;
  name: string;
  directory: boolean;
  hidden: boolean;
  multiExtent: boolean;
  extent: number;
  size: number;
  recorded: string | null;
  rr?: RockRidge;
}

export interface RockRidge {
  name?: string;
  mode?: number;
  nlink?: number;
  uid?: number;
  gid?: number;
  symlink?: string;
  modified?: string | null;
  accessed?: string | null;
  changed?: string | null;
  created?: string | null;
  /** A relocated directory's placeholder (CL): the real directory's sector. */
  childLink?: number;
  /** The relocated directory itself, in its hiding place (RE): not listed there. */
  relocated?: boolean;
  /** Seen an SP entry (only in the root's "." record). */
  sp?: { skip: number };
  /** Seen an ER entry: the extension's identifier (RRIP_1991A, IEEE_P1282, IEEE_1282). */
  extension?: string;
}

/** Directory bytes we accept in one directory: far beyond any real one (100 000 entries ≈ 5 MiB). */
export const MAX_DIRECTORY_BYTES = 64 << 20;
/** Continuation areas followed for one record: a loop of CEs must end. */
const MAX_CONTINUATIONS = 64;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

export const isDirMode = (mode: number | undefined) => mode !== undefined && (mode & S_IFMT) === S_IFDIR;
export const isLinkMode = (mode: number | undefined) => mode !== undefined && (mode & S_IFMT) === S_IFLNK;

/** Reads a directory's extent, refusing one that lies outside the image or is absurdly large. */
export async function readDirectoryBytes(storage: Storage, extent: number, size: number, path: string): Promise<Uint8Array> {
  const offset = extent * SECTOR;
  if (size > MAX_DIRECTORY_BYTES) throw new DiskImgError('limit', `Directory ${path} claims ${size} bytes, more than the ${MAX_DIRECTORY_BYTES} accepted`, { file: storage.name, field: 'directory size', offset, value: size });
  if (offset + size > storage.size) throw new DiskImgError('invalid-format', `Directory ${path} lies at bytes ${offset}–${offset + size}, past the end of the image (${storage.size} bytes): the image is truncated or damaged`, { file: storage.name, field: 'directory extent', offset, value: extent });
  return storage.read(offset, size);
}

function decodeName(raw: Uint8Array, joliet: boolean): string {
  if (raw.length === 1 && raw[0] <= 1) return raw[0] === 0 ? '.' : '..';
  let name = '';
  if (joliet) for (let i = 0; i + 1 < raw.length; i += 2) name += String.fromCharCode((raw[i] << 8) | raw[i + 1]);
  else name = new TextDecoder('latin1').decode(raw);
  // File version (;1) and the dot of an extension-less name are not part of the name a user sees.
  name = name.replace(/;\d+$/, '');
  if (name.endsWith('.') && name.length > 1) name = name.slice(0, -1);
  return name;
}

/** Every record of a directory's bytes, "." and ".." included, in order. */
export async function parseRecords(storage: Storage, bytes: Uint8Array, extent: number, joliet: boolean, susp: { skip: number } | null): Promise<RawRecord[]> {
  const records: RawRecord[] = [];
  let at = 0;
  while (at < bytes.length) {
    const length = bytes[at];
    if (length === 0) {
      at = (Math.floor(at / SECTOR) + 1) * SECTOR; // records never cross a sector: the rest is padding
      continue;
    }
    const where = extent * SECTOR + at;
    if (length < 34 || at + length > bytes.length || Math.floor(at / SECTOR) !== Math.floor((at + length - 1) / SECTOR)) {
      throw new DiskImgError('invalid-format', `A directory record at byte ${where} has an impossible length ${length}`, { file: storage.name, field: 'directory record length', offset: where, value: length });
    }
    const nameLength = bytes[at + 32];
    if (33 + nameLength > length) throw new DiskImgError('invalid-format', `A directory record at byte ${where} has a name longer than the record`, { file: storage.name, field: 'file identifier length', offset: where + 32, value: nameLength });
    const flags = bytes[at + 25];
    const record: RawRecord = {
      at: where,
      name: decodeName(bytes.subarray(at + 33, at + 33 + nameLength), joliet),
      directory: (flags & 0x02) !== 0,
      hidden: (flags & 0x01) !== 0,
      multiExtent: (flags & 0x80) !== 0,
      extent: u32(bytes, at + 2),
      size: u32(bytes, at + 10),
      recorded: recordDate(bytes, at + 18),
    };
    if (!joliet) {
      let suStart = 33 + nameLength + (nameLength % 2 === 0 ? 1 : 0);
      // The skip applies to every record but the root's own "." (where SP itself is found).
      if (susp && !(records.length === 0 && record.name === '.')) suStart += susp.skip;
      if (suStart + 4 <= length) record.rr = await parseSystemUse(storage, bytes.subarray(at + suStart, at + length), where);
    }
    records.push(record);
    at += length;
  }
  return records;
}

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8', { fatal: false });
/** Rock Ridge names are bytes; today's tools write UTF-8, old ones Latin-1. */
function rrText(bytes: Uint8Array): string {
  const text = utf8.decode(bytes);
  return text.includes('\uFFFD') ? latin1.decode(bytes) : text;
}

async function parseSystemUse(storage: Storage, area: Uint8Array, recordAt: number): Promise<RockRidge | undefined> {
  const rr: RockRidge = {};
  let found = false;
  let name = '';
  let link: string[] = [];
  let linkPart = '';
  const visited = new Set<number>();
  let current = area;
  for (let continuations = 0; ; continuations++) {
    let next: { offset: number; length: number } | undefined;
    let at = 0;
    while (at + 4 <= current.length) {
      const signature = String.fromCharCode(current[at], current[at + 1]);
      const length = current[at + 2];
      if (length < 4 || at + length > current.length) break; // padding or damage: the area ends here
      const e = current.subarray(at, at + length);
      switch (signature) {
        case 'SP':
          if (length >= 7 && e[4] === 0xbe && e[5] === 0xef) rr.sp = { skip: e[6] };
          break;
        case 'ER':
          rr.extension = latin1.decode(e.subarray(8, 8 + e[4]));
          found = true;
          break;
        case 'CE':
          next = { offset: u32(e, 4) * SECTOR + u32(e, 12), length: u32(e, 20) };
          break;
        case 'PX':
          rr.mode = u32(e, 4);
          rr.nlink = u32(e, 12);
          rr.uid = u32(e, 20);
          rr.gid = u32(e, 28);
          found = true;
          break;
        case 'NM': {
          const flags = e[4];
          if (flags & 0x02) name = '.';
          else if (flags & 0x04) name = '..';
          else name += rrText(e.subarray(5));
          rr.name = name;
          found = true;
          break;
        }
        case 'SL': {
          let p = 5;
          while (p + 2 <= e.length) {
            const flags = e[p];
            const size = e[p + 1];
            const content = rrText(e.subarray(p + 2, p + 2 + size));
            linkPart += flags & 0x02 ? '.' : flags & 0x04 ? '..' : flags & 0x08 ? '' : content;
            if (!(flags & 0x01)) {
              link.push(flags & 0x08 ? '' : linkPart);
              linkPart = '';
            }
            p += 2 + size;
          }
          rr.symlink = link.length === 1 && link[0] === '' ? '/' : link.join('/');
          found = true;
          break;
        }
        case 'TF': {
          const flags = e[4];
          const long = (flags & 0x80) !== 0;
          const size = long ? 17 : 7;
          let p = 5;
          const take = () => {
            const date = long ? decDateTime(e, p) : recordDate(e, p);
            p += size;
            return date;
          };
          if (flags & 0x01) rr.created = take();
          if (flags & 0x02) rr.modified = take();
          if (flags & 0x04) rr.accessed = take();
          if (flags & 0x08) rr.changed = take();
          found = true;
          break;
        }
        case 'CL':
          rr.childLink = u32(e, 4);
          found = true;
          break;
        case 'RE':
          rr.relocated = true;
          found = true;
          break;
        case 'ST':
          at = current.length;
          continue;
      }
      at += length;
    }
    if (!next) break;
    if (continuations >= MAX_CONTINUATIONS || visited.has(next.offset)) {
      throw new DiskImgError('corrupt', `The Rock Ridge continuation areas of the record at byte ${recordAt} loop or go on past ${MAX_CONTINUATIONS} areas`, { file: storage.name, field: 'CE', offset: next.offset });
    }
    visited.add(next.offset);
    if (next.length > SECTOR || next.offset + next.length > storage.size) {
      throw new DiskImgError('invalid-format', `A Rock Ridge continuation area of the record at byte ${recordAt} lies at bytes ${next.offset}–${next.offset + next.length}, outside the image or longer than a sector`, { file: storage.name, field: 'CE', offset: next.offset, value: next.length });
    }
    current = await storage.read(next.offset, next.length);
  }
  if (link.length === 0 && linkPart) link = [linkPart];
  return found || rr.sp ? rr : undefined;
}
