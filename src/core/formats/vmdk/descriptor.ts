/**
 * The VMDK text descriptor, read the way QEMU's block/vmdk.c reads it: not as a grammar but by
 * searching the text (strstr) for a key, so a key in a comment counts, and the first "CID" may be
 * a "parentCID". The text ends at its first NUL byte, as a C string does.
 */
import { latin1 } from '../../bytes.ts';
import { DiskImgError } from '../../errors.ts';

/** QEMU reads at most this much of a descriptor file (vmdk_read_desc: 1 MiB - 1). */
export const MAX_DESCRIPTOR_FILE = (1 << 20) - 1;
/** The descriptor embedded in a sparse file is read as 20 sectors from byte 512 (DESC_SIZE). */
export const EMBEDDED_DESCRIPTOR_OFFSET = 0x200;
export const EMBEDDED_DESCRIPTOR_SIZE = 20 * 512;
/** bs->backing_file holds PATH_MAX bytes with its NUL. */
const MAX_PARENT_NAME = 4095;

/** The createType values a descriptor file may name (vmdk_open_desc_file). */
const DESCRIPTOR_FILE_TYPES = ['monolithicFlat', 'vmfs', 'vmfsSparse', 'seSparse', 'twoGbMaxExtentSparse', 'twoGbMaxExtentFlat'];
/** Extent types QEMU opens; other lines (ZERO, RDONLY or NOACCESS access) are skipped. */
export type ExtentType = 'FLAT' | 'SPARSE' | 'VMFS' | 'VMFSSPARSE' | 'SESPARSE';
const EXTENT_TYPES: readonly string[] = ['FLAT', 'SPARSE', 'VMFS', 'VMFSSPARSE', 'SESPARSE'];

export interface ExtentLine {
  sectors: number;
  type: ExtentType;
  fileName: string;
  /** FLAT only: where the extent's bytes start in its file (in bytes). */
  flatOffset: number;
}

/** The bytes as a C string: up to the first NUL. */
export function descriptorText(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return latin1(nul < 0 ? bytes : bytes.subarray(0, nul));
}

/** vmdk_parse_description: the quoted value after `name="`, or undefined. */
export function quotedValue(text: string, name: string, maxLength = 127): string | undefined {
  const at = text.indexOf(name);
  if (at < 0) return undefined;
  const start = at + name.length + 2;
  if (start >= text.length) return undefined;
  const end = text.indexOf('"', start);
  if (end < 0 || end - start > maxLength) return undefined;
  return text.slice(start, end);
}

/** createType of a descriptor file; QEMU refuses the types that must be a sparse file's own. */
export function descriptorFileType(text: string, file: string): string {
  const type = quotedValue(text, 'createType');
  if (type === undefined) throw new DiskImgError('invalid-format', 'invalid VMDK image descriptor', { file, field: 'createType' });
  if (!DESCRIPTOR_FILE_TYPES.includes(type))
    throw new DiskImgError('unsupported', `Unsupported image type '${type}'`, { file, field: 'createType', value: type });
  return type;
}

/**
 * vmdk_read_cid: the hexadecimal number after the first "CID=" (or "parentCID="), as sscanf %x
 * reads it: spaces, an optional sign and 0x, then hex digits, kept to 32 bits.
 */
export function readCid(text: string, parent: boolean, file: string): number {
  const key = parent ? 'parentCID' : 'CID';
  const at = text.indexOf(key);
  const value =
    at < 0
      ? null
      : /^[ \t\n\v\f\r]*([+-]?)(?:0[xX](?=[0-9a-fA-F]))?([0-9a-fA-F]+)/.exec(text.slice(at + key.length + 1, at + key.length + 200));
  if (!value)
    throw new DiskImgError('invalid-format', `Could not read the ${key} of the VMDK descriptor: Invalid argument`, { file, field: key });
  let n = 0;
  for (const digit of value[2]) n = (n * 16 + parseInt(digit, 16)) % 0x1_0000_0000;
  return value[1] === '-' ? (0x1_0000_0000 - n) % 0x1_0000_0000 : n;
}

/** vmdk_parent_open: the parentFileNameHint, if the text has one (an empty hint is none). */
export function parentFileNameHint(text: string, file: string): string | undefined {
  const key = 'parentFileNameHint';
  const at = text.indexOf(key);
  if (at < 0) return undefined;
  const start = at + key.length + 2;
  const end = text.indexOf('"', start);
  if (end < 0 || end - start > MAX_PARENT_NAME)
    throw new DiskImgError('invalid-format', 'Invalid argument: the parentFileNameHint of the VMDK descriptor is not a quoted name', {
      file,
      field: 'parentFileNameHint',
    });
  const name = text.slice(start, end);
  return name === '' ? undefined : name;
}

/** One whitespace-separated word of at most 10 characters (sscanf %10s). */
function word(line: string, at: number): { value: string; next: number } | null {
  while (at < line.length && /\s/.test(line[at])) at++;
  const start = at;
  while (at < line.length && at - start < 10 && !/\s/.test(line[at])) at++;
  return at > start ? { value: line.slice(start, at), next: at } : null;
}

/** sscanf %SCNd64: optional spaces, sign and decimal digits. */
function decimal(line: string, at: number): { value: number; next: number } | null {
  const m = /^\s*([+-]?\d+)/.exec(line.slice(at));
  return m ? { value: Number(m[1]), next: at + m[0].length } : null;
}

/**
 * vmdk_parse_extents: the lines `RW SECTORS TYPE "FILE" [OFFSET]`, in order. Lines that do not
 * match, are not RW, have no sectors or a type QEMU does not open are skipped; a FLAT line
 * without its offset (or a VMFS line with one) is an error naming the line.
 */
export function parseExtentLines(text: string, file: string): ExtentLine[] {
  const extents: ExtentLine[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine;
    const access = word(line, 0);
    if (!access) continue;
    const sectors = decimal(line, access.next);
    if (!sectors) continue;
    const type = word(line, sectors.next);
    if (!type) continue;
    let at = type.next;
    while (at < line.length && /\s/.test(line[at])) at++;
    if (line[at] !== '"') continue;
    const nameEnd = at + 1 + (/^[^\n\r"]{0,511}/.exec(line.slice(at + 1))?.[0].length ?? 0);
    if (nameEnd === at + 1 || line[nameEnd] !== '"') continue;
    const fileName = line.slice(at + 1, nameEnd);
    const offset = decimal(line, nameEnd + 1);
    if (access.value !== 'RW') continue;
    const invalid = () => new DiskImgError('invalid-format', `Invalid extent line: ${line}`, { file, field: 'extent line', value: line });
    if (type.value === 'FLAT') {
      if (!offset || offset.value < 0) throw invalid();
    } else if (offset) throw invalid();
    if (sectors.value <= 0 || !EXTENT_TYPES.includes(type.value)) continue;
    if (!Number.isSafeInteger(sectors.value * 512))
      throw new DiskImgError('limit', `Extent of ${sectors.value} sectors is too large`, {
        file,
        field: 'extent sectors',
        value: sectors.value,
      });
    const flatOffset = type.value === 'FLAT' ? offset!.value * 512 : 0;
    if (!Number.isSafeInteger(flatOffset))
      throw new DiskImgError('limit', `Extent offset of ${offset!.value} sectors is too large`, {
        file,
        field: 'extent offset',
        value: offset!.value,
      });
    extents.push({ sectors: sectors.value, type: type.value as ExtentType, fileName, flatOffset });
  }
  return extents;
}
