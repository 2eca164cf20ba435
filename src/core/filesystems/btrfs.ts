/** Btrfs: the primary superblock at 64 KiB. */
import { ascii, cString, le32, le64, uuidBE } from '../partitions/bytes.ts';
import type { ByteSource } from '../partitions/source.ts';
import type { FilesystemInfo } from '../partitions/types.ts';

const SUPERBLOCK = 0x10000;
const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

export async function probeBtrfs(source: ByteSource): Promise<FilesystemInfo | null> {
  const sb = await source.read(SUPERBLOCK, 4096);
  if (!sb || ascii(sb, 0x40, 8) !== '_BHRfS_M') return null;
  if (le64(sb, 0x30) !== SUPERBLOCK) return null; // bytenr: where this copy says it lives
  const sectorSize = le32(sb, 0x90);
  if (!pow2(sectorSize) || sectorSize < 4096 || sectorSize > 65536) return null;
  const info: FilesystemInfo = { type: 'btrfs', uuid: uuidBE(sb, 0x20) };
  const size = le64(sb, 0x70);
  if (Number.isSafeInteger(size)) info.size = size;
  const label = cString(sb, 0x12b, 256);
  if (label) info.label = label;
  return info;
}
