/** What detectPartitions reports: the partition table of a guest disk and the file system in each partition. */

export interface FilesystemInfo {
  /** blkid's TYPE: ext2, ext3, ext4, xfs, btrfs, ntfs, vfat, exfat, swap, LVM2_member, crypto_LUKS, iso9660. */
  type: string;
  label?: string;
  /** As blkid prints it (lower-case UUID, XXXX-XXXX for FAT/exFAT, 16 hex digits for NTFS, dashed for LVM). */
  uuid?: string;
  /** blkid's VERSION: FAT12/FAT16/FAT32, 1.0 (ext), 1 (swap), 1/2 (LUKS), LVM2 001. */
  version?: string;
  /** Bytes the file system covers, where its superblock says. */
  size?: number;
}

export interface PartitionType {
  /** fdisk's name for the type code or GUID ("Linux filesystem", "EFI System", "W95 FAT32 (LBA)"), or "unknown". */
  name: string;
  /** MBR type byte as sfdisk prints it: "83", "ef", "5". */
  code?: string;
  /** GPT type GUID, upper case. */
  guid?: string;
}

export interface Partition {
  /** 1-based as Linux numbers them: MBR primaries 1–4, logical partitions from 5; GPT entry slot + 1. */
  index: number;
  /** Bytes from the start of the disk. */
  start: number;
  size: number;
  type: PartitionType;
  /** GPT partition name. */
  name?: string;
  /** GPT unique partition GUID, upper case. */
  uuid?: string;
  /** GPT attribute bits as hex ("0x8000000000000000"), only when any are set. */
  attributes?: string;
  /** MBR boot indicator (0x80). */
  bootable?: boolean;
  /** MBR: an extended partition (a container of logical partitions; never probed for a file system). */
  extended?: boolean;
  /** What lives in the partition; null when nothing is recognised. */
  filesystem: FilesystemInfo | null;
  /** An LVM2 physical volume: its visible logical volumes (as `lvs` lists them) and what each holds. */
  volumes?: VolumeInfo[];
}

export interface VolumeInfo {
  /** "vg/lv", as /dev/vg/lv names it. */
  name: string;
  size: number;
  /** "linear", or LVM's segment type (striped, thin, raid1, snapshot, …) for what cannot be read. */
  layout: string;
  filesystem: FilesystemInfo | null;
  /** Why the volume cannot be read from this disk alone. */
  refusal?: string;
}

export interface PartitionReport {
  /** "none": no partition table; partitions then holds the whole-disk file system, if any. */
  scheme: 'mbr' | 'gpt' | 'none';
  /** Logical sector size the table was found with (512, or 4096 for a 4Kn GPT). */
  'sector-size'?: number;
  /** GPT disk GUID, upper case. */
  'disk-guid'?: string;
  /** MBR disk identifier as sfdisk prints it ("0x1234abcd"). */
  'disk-id'?: string;
  partitions: Partition[];
  /** Damage found and worked around (a bad primary GPT, an EBR loop, entries past the end of the disk). */
  warnings?: string[];
}
