/**
 * FAT12/16/32 (blkid's "vfat"): the BPB sanity checks of libblkid vfat.c, the FAT type from the
 * cluster count, the serial as XXXX-XXXX, and the label as blkid's LABEL: the root directory's
 * volume-label entry only (the boot sector's copy is blkid's LABEL_FATBOOT, not LABEL).
 */
import { ascii, le16, le32 } from '../partitions/bytes.ts';
import type { ByteSource } from '../partitions/source.ts';
import type { FilesystemInfo } from '../partitions/types.ts';

const FAT12_MAX = 0xff4;
const FAT32_MAX = 0x0ffffff6;
/** Root-directory clusters followed on FAT32 before giving up on finding a label. */
const MAX_ROOT_CLUSTERS = 100;
const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

export interface FatGeometry {
  sectorSize: number;
  sectorsPerCluster: number;
  reserved: number;
  fats: number;
  rootEntries: number;
  sectors: number;
  fatLength: number;
  fat32: boolean;
  clusters: number;
}

/** The BPB of a FAT boot sector, or null when the sector is not one. */
export function fatGeometry(bs: Uint8Array): FatGeometry | null {
  if (bs.length < 512 || bs[510] !== 0x55 || bs[511] !== 0xaa) return null;
  if (bs[0] !== 0xeb && bs[0] !== 0xe9) return null;
  const sectorSize = le16(bs, 11);
  const sectorsPerCluster = bs[13];
  const reserved = le16(bs, 14);
  const fats = bs[16];
  const rootEntries = le16(bs, 17);
  const media = bs[21];
  if (!pow2(sectorSize) || sectorSize < 512 || sectorSize > 4096) return null;
  if (!pow2(sectorsPerCluster) || reserved === 0 || fats === 0 || fats > 4) return null;
  if (media !== 0xf0 && media < 0xf8) return null;
  const sectors = le16(bs, 19) || le32(bs, 32);
  const fat16Length = le16(bs, 22);
  const fatLength = fat16Length || le32(bs, 36);
  const fat32 = fat16Length === 0;
  if (sectors === 0 || fatLength === 0) return null;
  const rootSectors = Math.ceil((rootEntries * 32) / sectorSize);
  const dataSectors = sectors - (reserved + fats * fatLength + rootSectors);
  if (dataSectors <= 0) return null;
  const clusters = Math.floor(dataSectors / sectorsPerCluster);
  if (clusters > FAT32_MAX) return null;
  return { sectorSize, sectorsPerCluster, reserved, fats, rootEntries, sectors, fatLength, fat32, clusters };
}

/** libblkid search_fat_label: the first volume-label entry that is not free, a long name or a directory. */
function labelEntry(dir: Uint8Array): { label: string | null; end: boolean } {
  for (let at = 0; at + 32 <= dir.length; at += 32) {
    const first = dir[at];
    if (first === 0) return { label: null, end: true };
    const attr = dir[at + 11];
    if (first === 0xe5 || le16(dir, at + 20) !== 0 || le16(dir, at + 26) !== 0 || (attr & 0x3f) === 0x0f) continue;
    if ((attr & (0x08 | 0x10)) === 0x08) {
      const name = dir.slice(at, at + 11);
      if (name[0] === 0x05) name[0] = 0xe5;
      return { label: ascii(name, 0, 11), end: true };
    }
  }
  return { label: null, end: false };
}

async function rootLabel(source: ByteSource, g: FatGeometry, bs: Uint8Array): Promise<string | null> {
  const firstData = g.reserved + g.fats * g.fatLength;
  if (!g.fat32) {
    const dir = await source.read(firstData * g.sectorSize, Math.min(g.rootEntries * 32, 1024 * 1024));
    return dir ? labelEntry(dir).label : null;
  }
  const clusterBytes = g.sectorsPerCluster * g.sectorSize;
  let cluster = le32(bs, 44);
  for (let n = 0; n < MAX_ROOT_CLUSTERS && cluster >= 2 && cluster < g.clusters + 2; n++) {
    const dir = await source.read((firstData + (cluster - 2) * g.sectorsPerCluster) * g.sectorSize, clusterBytes);
    if (!dir) return null;
    const found = labelEntry(dir);
    if (found.end) return found.label;
    const entry = await source.read(g.reserved * g.sectorSize + cluster * 4, 4);
    if (!entry) return null;
    cluster = le32(entry, 0) & 0x0fffffff;
  }
  return null;
}

const trimEnd = (text: string) => text.replace(/[ \0]+$/, '');

export async function probeFat(source: ByteSource): Promise<FilesystemInfo | null> {
  const bs = await source.read(0, 512);
  if (!bs) return null;
  const g = fatGeometry(bs);
  if (!g) return null;
  const version = g.fat32 ? 'FAT32' : g.clusters < FAT12_MAX ? 'FAT12' : 'FAT16';
  const ext = g.fat32 ? 0x40 : 0x24; // the extended BPB: drive number, reserved, signature, serial, label
  const info: FilesystemInfo = { type: 'vfat', version, size: g.sectors * g.sectorSize };
  // FAT12/16 keep a serial only with an extended boot signature; blkid takes FAT32's regardless.
  if (g.fat32 || bs[ext + 2] === 0x29 || bs[ext + 2] === 0x28) {
    const s = bs.subarray(ext + 3, ext + 7);
    const h = (b: number) => b.toString(16).toUpperCase().padStart(2, '0');
    info.uuid = `${h(s[3])}${h(s[2])}-${h(s[1])}${h(s[0])}`;
  }
  const label = await rootLabel(source, g, bs);
  if (label !== null && trimEnd(label)) info.label = trimEnd(label);
  return info;
}
