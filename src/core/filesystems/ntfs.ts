/**
 * NTFS: the boot sector (libblkid ntfs.c checks), the volume serial as blkid prints it (16 hex
 * digits), the label from the $VOLUME_NAME attribute of MFT record 3 ($Volume).
 */
import { ascii, le16, le32, le64, utf16le } from '../partitions/bytes.ts';
import type { ByteSource } from '../partitions/source.ts';
import type { FilesystemInfo } from '../partitions/types.ts';

const MFT_RECORD_VOLUME = 3;
const AT_VOLUME_NAME = 0x60;
const AT_END = 0xffffffff;
const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

export interface NtfsGeometry {
  sectorSize: number;
  clusterSize: number;
  mftRecordSize: number;
  mftOffset: number;
  sectors: number;
}

export function ntfsGeometry(bs: Uint8Array): NtfsGeometry | null {
  if (bs.length < 512 || ascii(bs, 3, 8) !== 'NTFS    ') return null;
  const sectorSize = le16(bs, 11);
  if (!pow2(sectorSize) || sectorSize < 256 || sectorSize > 4096) return null;
  let sectorsPerCluster = bs[13];
  if (sectorsPerCluster > 0xf4) sectorsPerCluster = 2 ** (256 - sectorsPerCluster);
  if (!pow2(sectorsPerCluster)) return null;
  // Fields FAT uses must be zero (reserved sectors, FATs, root entries, sectors, FAT length, large sectors).
  if (le16(bs, 14) || bs[16] || le16(bs, 17) || le16(bs, 19) || le16(bs, 22) || le32(bs, 32)) return null;
  const clusterSize = sectorsPerCluster * sectorSize;
  const perRecord = (bs[64] << 24) >> 24; // signed: clusters per record, or 2^-n bytes
  const mftRecordSize = perRecord > 0 ? perRecord * clusterSize : 2 ** -perRecord;
  if (!pow2(mftRecordSize) || mftRecordSize < 256 || mftRecordSize > 65536) return null;
  const mftOffset = le64(bs, 48) * clusterSize;
  const sectors = le64(bs, 40);
  if (!Number.isSafeInteger(sectors * sectorSize)) return null;
  return { sectorSize, clusterSize, mftRecordSize, mftOffset, sectors };
}

/** Undoes the update-sequence fixups: the last two bytes of each 512-byte stride are kept in the array at usa_ofs. */
export function applyFixups(record: Uint8Array): boolean {
  const usaOffset = le16(record, 4);
  const usaCount = le16(record, 6);
  if (usaCount === 0 || usaOffset + usaCount * 2 > record.length || (usaCount - 1) * 512 > record.length) return false;
  const usn = le16(record, usaOffset);
  for (let i = 1; i < usaCount; i++) {
    const end = i * 512 - 2;
    if (le16(record, end) !== usn) return false;
    record[end] = record[usaOffset + 2 * i];
    record[end + 1] = record[usaOffset + 2 * i + 1];
  }
  return true;
}

async function volumeLabel(source: ByteSource, g: NtfsGeometry): Promise<string | null> {
  const record = await source.read(g.mftOffset + MFT_RECORD_VOLUME * g.mftRecordSize, g.mftRecordSize);
  if (!record || ascii(record, 0, 4) !== 'FILE' || !applyFixups(record)) return null;
  let at = le16(record, 0x14);
  for (let n = 0; n < 64 && at + 24 <= record.length; n++) {
    const type = le32(record, at);
    const length = le32(record, at + 4);
    if (type === AT_END || length < 24 || at + length > record.length) return null;
    if (type === AT_VOLUME_NAME && record[at + 8] === 0) {
      const valueLength = le32(record, at + 0x10);
      const valueOffset = le16(record, at + 0x14);
      if (valueOffset + valueLength > length) return null;
      return utf16le(record, at + valueOffset, valueLength);
    }
    at += length;
  }
  return null;
}

export async function probeNtfs(source: ByteSource): Promise<FilesystemInfo | null> {
  const bs = await source.read(0, 512);
  if (!bs) return null;
  const g = ntfsGeometry(bs);
  if (!g) return null;
  const serial = (BigInt(le32(bs, 76)) << 32n) | BigInt(le32(bs, 72));
  const info: FilesystemInfo = { type: 'ntfs', uuid: serial.toString(16).toUpperCase().padStart(16, '0'), size: g.sectors * g.sectorSize };
  const label = await volumeLabel(source, g);
  if (label) info.label = label;
  return info;
}
