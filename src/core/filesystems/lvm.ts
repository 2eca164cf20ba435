/** LVM2 physical volumes: the "LABELONE" label in one of the first four sectors, its CRC, and the PV UUID. */
import { ascii, le32, le64 } from '../partitions/bytes.ts';
import type { ByteSource } from '../partitions/source.ts';
import type { FilesystemInfo } from '../partitions/types.ts';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** LVM's CRC: the IEEE polynomial with its own initial value and no final inversion (lib/misc/crc.c). */
export function lvmCrc(bytes: Uint8Array, initial = 0xf597a6cf): number {
  let crc = initial;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return crc >>> 0;
}

/** LVM prints the 32-character id as 6-4-4-4-4-4-6. */
const dashed = (id: string) =>
  [id.slice(0, 6), id.slice(6, 10), id.slice(10, 14), id.slice(14, 18), id.slice(18, 22), id.slice(22, 26), id.slice(26, 32)].join('-');

/** The label's sector (its 512 bytes), where the PV header starts in it, and the PV UUID as LVM prints it. */
export async function findLvmLabel(
  source: ByteSource,
): Promise<{ sector: number; label: Uint8Array; headerAt: number; uuid: string; size: number } | null> {
  const head = await source.read(0, 4 * 512);
  if (!head) return null;
  for (let sector = 0; sector < 4; sector++) {
    const label = head.subarray(sector * 512, sector * 512 + 512);
    if (ascii(label, 0, 8) !== 'LABELONE' || ascii(label, 24, 8) !== 'LVM2 001') continue;
    if (le64(label, 8) !== sector || le32(label, 16) !== lvmCrc(label.subarray(20))) continue;
    const offset = le32(label, 20);
    if (offset < 32 || offset + 40 > 512) continue;
    const id = ascii(label, offset, 32);
    if (!/^[\x21-\x7e]{32}$/.test(id)) continue;
    return { sector, label, headerAt: offset, uuid: dashed(id), size: le64(label, offset + 32) };
  }
  return null;
}

export async function probeLvm(source: ByteSource): Promise<FilesystemInfo | null> {
  const found = await findLvmLabel(source);
  if (!found) return null;
  const info: FilesystemInfo = { type: 'LVM2_member', uuid: found.uuid, version: 'LVM2 001' };
  if (found.size > 0 && Number.isSafeInteger(found.size)) info.size = found.size;
  return info;
}
