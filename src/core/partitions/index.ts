/** Partition tables (MBR, GPT) and the file systems in them: see detect.ts. */
export { detectPartitions, hasPartitionInfo } from './detect.ts';
export type { FilesystemInfo, GuestReader, Partition, PartitionReport, PartitionType, VolumeInfo } from './detect.ts';
