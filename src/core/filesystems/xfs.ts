/** XFS: the primary superblock at 0 (big-endian), sanity-checked as blkid's xfs_verify_sb does in part. */
import { ascii, be16, be32, be64, cString, isZero, uuidBE } from '../partitions/bytes.ts';
import type { ByteSource } from '../partitions/source.ts';
import type { FilesystemInfo } from '../partitions/types.ts';

const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

export async function probeXfs(source: ByteSource): Promise<FilesystemInfo | null> {
  const sb = await source.read(0, 512);
  if (!sb || ascii(sb, 0, 4) !== 'XFSB') return null;
  const blockSize = be32(sb, 4);
  const dblocks = be64(sb, 8);
  const sectSize = be16(sb, 102);
  const inodeSize = be16(sb, 104);
  const agCount = be32(sb, 84);
  if (!pow2(blockSize) || blockSize < 512 || blockSize > 65536) return null;
  if (!pow2(sectSize) || sectSize < 512 || sectSize > 32768) return null;
  if (!pow2(inodeSize) || inodeSize < 256 || inodeSize > 2048) return null;
  if (agCount === 0 || dblocks === 0 || !Number.isSafeInteger(dblocks * blockSize)) return null;
  const info: FilesystemInfo = { type: 'xfs', size: dblocks * blockSize };
  const label = cString(sb, 108, 12);
  if (label) info.label = label;
  if (!isZero(sb, 32, 16)) info.uuid = uuidBE(sb, 32);
  return info;
}
