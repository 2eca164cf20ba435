/**
 * ISO 9660 directory records and the Rock Ridge entries in their system use areas (SUSP: SP, CE,
 * ST, ER; RRIP: PX, PN, NM, SL, TF, RE, CL; PL needs nothing: ".." is never listed), with
 * continuation areas followed under a budget.
 */
import { DiskImgError } from '../errors.ts';
import type { Storage } from '../storage/storage.ts';
import { decDateTime, recordDate, SECTOR, u32 } from './descriptors.ts';
import { parseZf, type Zisofs } from './zisofs.ts';

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
  /** TF's modification time (the other times are not kept). */
  modified?: string | null;
  /** A relocated directory's placeholder (CL): the real directory's sector. */
  childLink?: number;
  /** The relocated directory itself, in its hiding place (RE): not listed there. */
  relocated?: boolean;
  /** PN: a device's major and minor numbers (the high 32 bits, as Linux writes them, are dropped). */
  device?: { major: number; minor: number };
  /** ZF (or zisofs2's Z2): the file is stored zisofs-compressed; `stored` is filled by the tree. */
  zisofs?: Omit<Zisofs, 'stored'>;
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
const SPECIAL: Record<number, 'block' | 'char' | 'fifo' | 'socket'> = {
  0o060000: 'block',
  0o020000: 'char',
  0o010000: 'fifo',
  0o140000: 'socket',
};
/** A device node, FIFO or socket, from PX's file type bits. */
export const specialType = (mode: number | undefined) => (mode === undefined ? undefined : SPECIAL[mode & S_IFMT]);

/** Reads a directory's extent, refusing one that lies outside the image or is absurdly large. */
export async function readDirectoryBytes(storage: Storage, extent: number, size: number, path: string): Promise<Uint8Array> {
  const offset = extent * SECTOR;
  if (size > MAX_DIRECTORY_BYTES)
    throw new DiskImgError('limit', `Directory ${path} claims ${size} bytes, more than the ${MAX_DIRECTORY_BYTES} accepted`, {
      file: storage.name,
      field: 'directory size',
      offset,
      value: size,
    });
  if (offset + size > storage.size)
    throw new DiskImgError(
      'invalid-format',
      `Directory ${path} lies at bytes ${offset}–${offset + size}, past the end of the image (${storage.size} bytes): the image is truncated or damaged`,
      { file: storage.name, field: 'directory extent', offset, value: extent },
    );
  return storage.read(offset, size);
}

function decodeName(raw: Uint8Array, joliet: boolean): string {
  if (raw.length === 1 && raw[0] <= 1) return raw[0] === 0 ? '.' : '..';
  let name = '';
  if (joliet) for (let i = 0; i + 1 < raw.length; i += 2) name += String.fromCharCode((raw[i] << 8) | raw[i + 1]);
  else name = latin1.decode(raw);
  // File version (;1) and the dot of an extension-less name are not part of the name a user sees.
  name = name.replace(/;\d+$/, '');
  if (name.endsWith('.') && name.length > 1) name = name.slice(0, -1);
  return name;
}

/** Every record of a directory's bytes, "." and ".." included, in order. */
export async function parseRecords(
  storage: Storage,
  bytes: Uint8Array,
  extent: number,
  joliet: boolean,
  susp: { skip: number } | null,
  systemUse = true,
): Promise<RawRecord[]> {
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
      throw new DiskImgError('invalid-format', `A directory record at byte ${where} has an impossible length ${length}`, {
        file: storage.name,
        field: 'directory record length',
        offset: where,
        value: length,
      });
    }
    const nameLength = bytes[at + 32];
    if (33 + nameLength > length)
      throw new DiskImgError('invalid-format', `A directory record at byte ${where} has a name longer than the record`, {
        file: storage.name,
        field: 'file identifier length',
        offset: where + 32,
        value: nameLength,
      });
    const flags = bytes[at + 25];
    const record: RawRecord = {
      at: where,
      name: decodeName(bytes.subarray(at + 33, at + 33 + nameLength), joliet),
      directory: (flags & 0x02) !== 0,
      hidden: (flags & 0x01) !== 0,
      multiExtent: (flags & 0x80) !== 0,
      extent: u32(bytes, at + 2),
      size: u32(bytes, at + 10),
      recorded: null,
    };
    if (!joliet && systemUse) {
      let suStart = 33 + nameLength + (nameLength % 2 === 0 ? 1 : 0);
      // The skip applies to every record but the root's own "." (where SP itself is found).
      if (susp && !(records.length === 0 && record.name === '.')) suStart += susp.skip;
      if (suStart + 4 <= length) {
        const rr = parseSystemUse(storage, bytes.subarray(at + suStart, at + length), where);
        record.rr = rr instanceof Promise ? await rr : rr;
      }
    }
    // The record's own date only where Rock Ridge gives none (100 000 dates cost time and memory).
    if (!record.rr?.modified) record.recorded = recordDate(bytes, at + 18);
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

interface SuspState {
  rr: RockRidge;
  found: boolean;
  name: string;
  link: string[];
  linkPart: string;
}

/**
 * A record's system use area, and the continuation areas (CE) it names. Synchronous unless there
 * is a continuation to read: 100 000 records must not cost 100 000 promises.
 */
function parseSystemUse(storage: Storage, area: Uint8Array, recordAt: number): RockRidge | undefined | Promise<RockRidge | undefined> {
  const state: SuspState = { rr: {}, found: false, name: '', link: [], linkPart: '' };
  const next = parseArea(area, state);
  return next ? followContinuations(storage, state, next, recordAt) : finish(state);
}

async function followContinuations(
  storage: Storage,
  state: SuspState,
  first: { offset: number; length: number },
  recordAt: number,
): Promise<RockRidge | undefined> {
  const visited = new Set<number>();
  let next: { offset: number; length: number } | undefined = first;
  for (let continuations = 0; next; continuations++) {
    if (continuations >= MAX_CONTINUATIONS || visited.has(next.offset)) {
      throw new DiskImgError(
        'corrupt',
        `The Rock Ridge continuation areas of the record at byte ${recordAt} loop or go on past ${MAX_CONTINUATIONS} areas`,
        { file: storage.name, field: 'CE', offset: next.offset },
      );
    }
    visited.add(next.offset);
    if (next.length > SECTOR || next.offset + next.length > storage.size) {
      throw new DiskImgError(
        'invalid-format',
        `A Rock Ridge continuation area of the record at byte ${recordAt} lies at bytes ${next.offset}–${next.offset + next.length}, outside the image or longer than a sector`,
        { file: storage.name, field: 'CE', offset: next.offset, value: next.length },
      );
    }
    next = parseArea(await storage.read(next.offset, next.length), state);
  }
  return finish(state);
}

function finish(state: SuspState): RockRidge | undefined {
  // A last component still marked CONTINUE: take it as it stands.
  if (state.linkPart) state.rr.symlink = [...state.link, state.linkPart].join('/');
  return state.found || state.rr.sp ? state.rr : undefined;
}

/** The entries of one area; returns the continuation area it names, if any. */
function parseArea(current: Uint8Array, state: SuspState): { offset: number; length: number } | undefined {
  const rr = state.rr;
  let next: { offset: number; length: number } | undefined;
  let at = 0;
  while (at + 4 <= current.length) {
    const signature = (current[at] << 8) | current[at + 1];
    const length = current[at + 2];
    if (length < 4 || at + length > current.length) break; // padding or damage: the area ends here
    const e = current.subarray(at, at + length);
    switch (signature) {
      case 0x5350: // SP
        if (length >= 7 && e[4] === 0xbe && e[5] === 0xef) rr.sp = { skip: e[6] };
        break;
      case 0x4552: // ER
        rr.extension = latin1.decode(e.subarray(8, 8 + e[4]));
        state.found = true;
        break;
      case 0x4345: // CE
        next = { offset: u32(e, 4) * SECTOR + u32(e, 12), length: u32(e, 20) };
        break;
      case 0x5058: // PX
        rr.mode = u32(e, 4);
        rr.nlink = u32(e, 12);
        rr.uid = u32(e, 20);
        rr.gid = u32(e, 28);
        state.found = true;
        break;
      case 0x504e: // PN: device numbers, high then low, each both-endian 32
        if (length >= 20) {
          const high = u32(e, 4);
          const low = u32(e, 12);
          // genisoimage writes major and minor in the two words (as RRIP means, and as Linux reads a non-zero high word);
          // libisofs writes the whole glibc dev_t in the low word: major in bits 8–19, minor in bits 0–7 and 20–31.
          rr.device =
            high !== 0 ? { major: high, minor: low } : { major: (low >>> 8) & 0xfff, minor: (low & 0xff) | ((low >>> 12) & 0xfff00) };
        }
        state.found = true;
        break;
      case 0x5a46: // ZF: zisofs
      case 0x5a32: {
        // Z2: zisofs2 (xorriso --zisofs2-susp-z2)
        const zf = parseZf(e, signature === 0x5a46 ? 'ZF' : 'Z2');
        if (zf) rr.zisofs = zf;
        state.found = true;
        break;
      }
      case 0x4e4d: {
        // NM: the name, in pieces while CONTINUE (bit 0) is set
        const flags = e[4];
        if (flags & 0x02) state.name = '.';
        else if (flags & 0x04) state.name = '..';
        else state.name += rrText(e.subarray(5));
        rr.name = state.name;
        state.found = true;
        break;
      }
      case 0x534c: {
        // SL: components; CONTINUE (bit 0) joins a component to the next, CURRENT/PARENT/ROOT stand for ., .., /
        let p = 5;
        while (p + 2 <= e.length) {
          const flags = e[p];
          const size = e[p + 1];
          state.linkPart += flags & 0x02 ? '.' : flags & 0x04 ? '..' : flags & 0x08 ? '' : rrText(e.subarray(p + 2, p + 2 + size));
          if (!(flags & 0x01)) {
            state.link.push(flags & 0x08 ? '' : state.linkPart);
            state.linkPart = '';
          }
          p += 2 + size;
        }
        rr.symlink = state.link.length === 1 && state.link[0] === '' ? '/' : state.link.join('/');
        state.found = true;
        break;
      }
      case 0x5446: {
        // TF: creation, modification, access, attributes times, in that order where flagged; only modification is kept
        const flags = e[4];
        const size = flags & 0x80 ? 17 : 7;
        if (flags & 0x02) {
          const p = 5 + (flags & 0x01 ? size : 0);
          rr.modified = size === 17 ? decDateTime(e, p) : recordDate(e, p);
        }
        state.found = true;
        break;
      }
      case 0x434c: // CL
        rr.childLink = u32(e, 4);
        state.found = true;
        break;
      case 0x5245: // RE
        rr.relocated = true;
        state.found = true;
        break;
      case 0x5354: // ST
        return next;
    }
    at += length;
  }
  return next;
}
