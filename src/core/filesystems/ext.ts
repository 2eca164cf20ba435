/** ext2/ext3/ext4: the superblock at 1024, told apart by feature flags exactly as blkid does (libblkid ext.c). */
import { cString, isZero, le16, le32, uuidBE } from '../partitions/bytes.ts';
import type { ByteSource } from '../partitions/source.ts';
import type { FilesystemInfo } from '../partitions/types.ts';

const COMPAT_HAS_JOURNAL = 0x4;
const INCOMPAT_JOURNAL_DEV = 0x8;
const INCOMPAT_64BIT = 0x80;
/** Features ext3 (and so ext2) drivers understand; anything beyond makes it ext4. */
const EXT3_RO_COMPAT_SUPP = 0x1 | 0x2 | 0x4; // sparse_super, large_file, btree_dir
const EXT3_INCOMPAT_SUPP = 0x2 | 0x4 | 0x10; // filetype, recover, meta_bg

export async function probeExt(source: ByteSource): Promise<FilesystemInfo | null> {
  const sb = await source.read(1024, 1024);
  if (!sb || le16(sb, 56) !== 0xef53) return null;
  const logBlock = le32(sb, 24);
  if (logBlock > 6) return null; // 1 KiB << 6 = 64 KiB, the largest block size
  const compat = le32(sb, 92);
  const incompat = le32(sb, 96);
  const roCompat = le32(sb, 100);
  if (incompat & INCOMPAT_JOURNAL_DEV) return null; // an external journal (blkid's "jbd"), not a file system
  let type: string;
  if (roCompat & ~EXT3_RO_COMPAT_SUPP || incompat & ~EXT3_INCOMPAT_SUPP) type = 'ext4';
  else if (compat & COMPAT_HAS_JOURNAL) type = 'ext3';
  else type = 'ext2';
  const blockSize = 1024 << logBlock;
  const blocks = le32(sb, 4) + (incompat & INCOMPAT_64BIT ? le32(sb, 0x150) * 0x1_0000_0000 : 0);
  const info: FilesystemInfo = { type, version: `${le32(sb, 76)}.${le16(sb, 62)}`, size: blocks * blockSize };
  const label = cString(sb, 120, 16);
  if (label) info.label = label;
  if (!isZero(sb, 104, 16)) info.uuid = uuidBE(sb, 104);
  return info;
}
