/**
 * The members of a tar archive (ustar, as OVF 1.0 requires; GNU and pax long names understood),
 * listed without reading their contents: each is a name, an offset and a size in the archive.
 */
import { latin1 } from '../../bytes.ts';
import { DiskImgError } from '../../errors.ts';
import type { Storage } from '../../storage/storage.ts';

export interface TarMember {
  name: string;
  /** Where the member's bytes start in the archive. */
  offset: number;
  size: number;
}

/** More members than an OVA ever has: the listing stops there. */
const MAX_MEMBERS = 4096;
/** A long name (GNU 'L' or pax 'path') longer than this is not a name. */
const MAX_LONG_NAME = 65536;

const cString = (bytes: Uint8Array) => {
  const nul = bytes.indexOf(0);
  return latin1(nul < 0 ? bytes : bytes.subarray(0, nul));
};

/** An octal field (spaces and NULs around it), or the GNU base-256 form; NaN when it is neither. */
function octal(field: Uint8Array): number {
  if (field[0] & 0x80) {
    let n = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i];
    return n;
  }
  const text = cString(field).trim();
  return /^[0-7]+$/.test(text) ? parseInt(text, 8) : text === '' ? 0 : NaN;
}

/** A header block checks out: its checksum (bytes summed, the checksum field as spaces) matches. */
export function isTarHeader(block: Uint8Array): boolean {
  if (block.length < 512) return false;
  const stored = octal(block.subarray(148, 156));
  if (Number.isNaN(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
  return sum === stored && sum !== 256;
}

/** The name in a header block (ustar prefix joined). */
export function headerName(block: Uint8Array): string {
  const name = cString(block.subarray(0, 100));
  const ustar = latin1(block.subarray(257, 262)) === 'ustar';
  const prefix = ustar ? cString(block.subarray(345, 500)) : '';
  return prefix ? `${prefix}/${name}` : name;
}

export async function listTar(storage: Storage): Promise<TarMember[]> {
  const file = storage.name;
  const members: TarMember[] = [];
  let at = 0;
  let longName: string | undefined;
  while (at + 512 <= storage.size) {
    const block = await storage.read(at, 512);
    if (block.every((b) => b === 0)) break;
    if (!isTarHeader(block))
      throw new DiskImgError('corrupt', `OVA: the tar header at offset ${at} has a bad checksum`, {
        file,
        field: 'tar header',
        offset: at,
      });
    const size = octal(block.subarray(124, 136));
    const type = String.fromCharCode(block[156]);
    const dataAt = at + 512;
    if (!Number.isSafeInteger(size) || dataAt + size > storage.size) {
      throw new DiskImgError('corrupt', `OVA: the tar member at offset ${at} claims ${size} bytes, past the end of the file`, {
        file,
        field: 'tar member size',
        offset: at + 124,
        value: size,
      });
    }
    if (type === 'L' || type === 'x') {
      if (size > MAX_LONG_NAME)
        throw new DiskImgError('limit', `OVA: a tar long name of ${size} bytes`, { file, field: 'tar long name', offset: at, value: size });
      const text = cString(await storage.read(dataAt, size));
      longName = type === 'L' ? text : (/(?:^|\n)\d+ path=([^\n]*)\n/.exec(text)?.[1] ?? longName);
    } else if (type === '0' || type === '\0' || type === '7') {
      members.push({ name: longName ?? headerName(block), offset: dataAt, size });
      longName = undefined;
      if (members.length > MAX_MEMBERS)
        throw new DiskImgError('limit', `OVA: more than ${MAX_MEMBERS} files in the archive`, { file, field: 'tar members' });
    } else longName = undefined;
    at = dataAt + Math.ceil(size / 512) * 512;
  }
  return members;
}
