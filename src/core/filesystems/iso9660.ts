/** ISO 9660: the volume descriptors from 32 KiB; label from Joliet when present, UUID from the volume date, as blkid. */
import { ascii, le16, le32 } from '../partitions/bytes.ts';
import type { ByteSource } from '../partitions/source.ts';
import type { FilesystemInfo } from '../partitions/types.ts';

const FIRST = 16 * 2048;
const MAX_DESCRIPTORS = 32;

const trimEnd = (text: string) => text.replace(/[ \0]+$/, '');

function utf16be(b: Uint8Array, at: number, length: number): string {
  let out = '';
  for (let i = 0; i + 1 < length; i += 2) out += String.fromCharCode((b[at + i] << 8) | b[at + i + 1]);
  return out;
}

/** "YYYYMMDDHHMMSScc" + zone → "YYYY-MM-DD-HH-MM-SS-cc", or null when unset. */
function dateUuid(d: Uint8Array, at: number): string | null {
  const digits = ascii(d, at, 16);
  if (!/^\d{16}$/.test(digits) || /^0+$/.test(digits)) return null;
  return digits.replace(/^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)$/, '$1-$2-$3-$4-$5-$6-$7');
}

export async function probeIso9660(source: ByteSource): Promise<FilesystemInfo | null> {
  const pvd = await source.read(FIRST, 2048);
  if (!pvd || pvd[0] !== 1 || ascii(pvd, 1, 5) !== 'CD001' || pvd[6] !== 1) return null;
  const info: FilesystemInfo = { type: 'iso9660' };
  const label = trimEnd(ascii(pvd, 40, 32));
  if (label) info.label = label;
  const uuid = dateUuid(pvd, 830) ?? dateUuid(pvd, 813);
  if (uuid) info.uuid = uuid;
  const size = le32(pvd, 80) * le16(pvd, 128);
  if (size > 0) info.size = size;
  for (let i = 1; i < MAX_DESCRIPTORS; i++) {
    const vd = await source.read(FIRST + i * 2048, 2048);
    if (!vd || ascii(vd, 1, 5) !== 'CD001' || vd[0] === 255) break;
    if (vd[0] === 2 && vd[88] === 0x25 && vd[89] === 0x2f && [0x40, 0x43, 0x45].includes(vd[90])) {
      info.version = 'Joliet Extension';
      const joliet = trimEnd(utf16be(vd, 40, 32));
      if (joliet) info.label = joliet;
      break;
    }
  }
  return info;
}
