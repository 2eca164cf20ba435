/** exFAT: the boot sector's checks (libblkid exfat.c), the label entry (0x83) of the root directory, the serial as XXXX-XXXX. */
import { ascii, isZero, le32, le64 } from '../partitions/bytes.ts';
import type { ByteSource } from '../partitions/source.ts';
import type { FilesystemInfo } from '../partitions/types.ts';

const MAX_ROOT_CLUSTERS = 100;
const ENTRY_EOD = 0x00;
const ENTRY_LABEL = 0x83;

/** True when `bs` is an exFAT boot sector. */
export function isExfatBootSector(bs: Uint8Array): boolean {
  if (bs.length < 512 || ascii(bs, 3, 8) !== 'EXFAT   ' || !isZero(bs, 11, 53)) return false;
  const sectorBits = bs[108];
  const clusterBits = bs[109];
  return sectorBits >= 9 && sectorBits <= 12 && clusterBits <= 25 - sectorBits && (bs[110] === 1 || bs[110] === 2);
}

export async function probeExfat(source: ByteSource): Promise<FilesystemInfo | null> {
  const bs = await source.read(0, 512);
  if (!bs || !isExfatBootSector(bs)) return null;
  const sectorSize = 2 ** bs[108];
  const clusterSize = sectorSize * 2 ** bs[109];
  const fatOffset = le32(bs, 80) * sectorSize;
  const heapOffset = le32(bs, 88) * sectorSize;
  const clusterCount = le32(bs, 92);
  const h = (b: number) => b.toString(16).toUpperCase().padStart(2, '0');
  const info: FilesystemInfo = {
    type: 'exfat',
    uuid: `${h(bs[103])}${h(bs[102])}-${h(bs[101])}${h(bs[100])}`,
    version: `${bs[105]}.${bs[104]}`,
  };
  const size = le64(bs, 72) * sectorSize;
  if (Number.isSafeInteger(size)) info.size = size;
  let cluster = le32(bs, 96);
  search: for (let n = 0; n < MAX_ROOT_CLUSTERS && cluster >= 2 && cluster < clusterCount + 2; n++) {
    const dir = await source.read(heapOffset + (cluster - 2) * clusterSize, Math.min(clusterSize, 1024 * 1024));
    if (!dir) break;
    for (let at = 0; at + 32 <= dir.length; at += 32) {
      if (dir[at] === ENTRY_EOD) break search;
      if (dir[at] !== ENTRY_LABEL) continue;
      const chars = Math.min(dir[at + 1], 11);
      let label = '';
      for (let i = 0; i < chars; i++) label += String.fromCharCode(dir[at + 2 + 2 * i] | (dir[at + 3 + 2 * i] << 8));
      if (label) info.label = label;
      break search;
    }
    const entry = await source.read(fatOffset + cluster * 4, 4);
    if (!entry) break;
    cluster = le32(entry, 0);
  }
  return info;
}
