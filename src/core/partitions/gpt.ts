/**
 * GPT (UEFI 2.10 §5.3): the header at LBA 1 and its backup at the last LBA, each checked by its
 * own CRC32 and that of the entry array. A damaged primary falls back to the backup, and says so.
 */
import { ascii, crc32, guidLE, isZero, le32, le64, utf16le } from './bytes.ts';
import { MAX_PROBE_READ, type ByteSource } from './source.ts';
import { gptTypeName } from './type-names.ts';
import type { Partition } from './types.ts';

/** Entry counts and array sizes beyond these are refused (real tables use 128 entries of 128 bytes). */
export const MAX_GPT_ENTRIES = 1024;
export const MAX_GPT_ARRAY = MAX_PROBE_READ;

export interface GptHeader {
  lba: number;
  alternateLba: number;
  firstUsable: number;
  lastUsable: number;
  diskGuid: string;
  entriesLba: number;
  entryCount: number;
  entrySize: number;
  entriesCrc: number;
}

export interface GptTable {
  header: GptHeader;
  partitions: Partition[];
  warnings: string[];
}

/** A header that is not there at all: no "EFI PART" at its LBA, or its LBA past the end of the disk. */
const ABSENT = Symbol('no GPT signature');
type Absent = { [ABSENT]: true; reason: string };

/** Why a header at `lba` is unusable (absent: no signature to speak of), or the header. */
export async function readGptHeader(disk: ByteSource, sectorSize: number, lba: number): Promise<GptHeader | string | Absent> {
  const sector = await disk.read(lba * sectorSize, sectorSize);
  // Neither is a sign of a GPT: a disk smaller than LBA 1 (2560 bytes at 4096-byte sectors) holds none.
  if (!sector) return { [ABSENT]: true, reason: `LBA ${lba} is past the end of the disk` };
  if (ascii(sector, 0, 8) !== 'EFI PART') return { [ABSENT]: true, reason: `no "EFI PART" signature at LBA ${lba}` };
  const headerSize = le32(sector, 12);
  if (headerSize < 92 || headerSize > sectorSize) return `header size ${headerSize} at LBA ${lba} is not between 92 and ${sectorSize}`;
  const copy = sector.slice(0, headerSize);
  copy.fill(0, 16, 20);
  const stored = le32(sector, 16);
  if (crc32(copy) !== stored)
    return `header CRC32 mismatch at LBA ${lba} (stored 0x${stored.toString(16)}, computed 0x${crc32(copy).toString(16)})`;
  const h: GptHeader = {
    lba: le64(sector, 24),
    alternateLba: le64(sector, 32),
    firstUsable: le64(sector, 40),
    lastUsable: le64(sector, 48),
    diskGuid: guidLE(sector, 56),
    entriesLba: le64(sector, 72),
    entryCount: le32(sector, 80),
    entrySize: le32(sector, 84),
    entriesCrc: le32(sector, 88),
  };
  if (h.lba !== lba) return `header at LBA ${lba} says it lives at LBA ${h.lba}`;
  if (h.entrySize < 128 || h.entrySize % 128 !== 0 || h.entrySize > 4096)
    return `entry size ${h.entrySize} at LBA ${lba} is not a multiple of 128 up to 4096`;
  if (h.entryCount > MAX_GPT_ENTRIES || h.entryCount * h.entrySize > MAX_GPT_ARRAY)
    return `${h.entryCount} entries of ${h.entrySize} bytes at LBA ${lba} exceed the limit (${MAX_GPT_ENTRIES} entries, ${MAX_GPT_ARRAY} bytes)`;
  if (!Number.isSafeInteger(h.entriesLba * sectorSize)) return `entry array LBA ${h.entriesLba} is out of range`;
  return h;
}

const isHeader = (h: GptHeader | string | Absent): h is GptHeader => typeof h !== 'string' && !(ABSENT in h);

async function readEntries(disk: ByteSource, sectorSize: number, h: GptHeader): Promise<Uint8Array | string> {
  const bytes = await disk.read(h.entriesLba * sectorSize, h.entryCount * h.entrySize);
  if (!bytes) return `the entry array at LBA ${h.entriesLba} runs past the end of the disk`;
  const crc = crc32(bytes);
  if (crc !== h.entriesCrc)
    return `entry array CRC32 mismatch at LBA ${h.entriesLba} (stored 0x${h.entriesCrc.toString(16)}, computed 0x${crc.toString(16)})`;
  return bytes;
}

function parseEntries(bytes: Uint8Array, h: GptHeader, sectorSize: number, diskSize: number, warnings: string[]): Partition[] {
  const out: Partition[] = [];
  for (let slot = 0; slot < h.entryCount; slot++) {
    const e = bytes.subarray(slot * h.entrySize, slot * h.entrySize + 128);
    if (isZero(e, 0, 16)) continue;
    const index = slot + 1;
    const first = le64(e, 32);
    const last = le64(e, 40);
    if (last < first || !Number.isSafeInteger((last + 1) * sectorSize)) {
      warnings.push(`partition ${index}: last LBA ${last} is before first LBA ${first} or out of range; ignored`);
      continue;
    }
    const guid = guidLE(e, 0);
    const p = {
      index,
      start: first * sectorSize,
      size: (last - first + 1) * sectorSize,
      type: { name: gptTypeName(guid), guid },
    } as Partition;
    const name = utf16le(e, 56, 72);
    if (name) p.name = name;
    p.uuid = guidLE(e, 16);
    const attributes = new DataView(e.buffer, e.byteOffset + 48, 8).getBigUint64(0, true);
    if (attributes !== 0n) p.attributes = `0x${attributes.toString(16).padStart(16, '0')}`;
    p.filesystem = null; // last, so JSON lists it after the table's own fields
    if (first < h.firstUsable || last > h.lastUsable)
      warnings.push(`partition ${index} lies outside the usable LBAs ${h.firstUsable}–${h.lastUsable}`);
    if (p.start + p.size > diskSize)
      warnings.push(`partition ${index} ends past the end of the disk (${p.start + p.size} > ${diskSize} bytes)`);
    out.push(p);
  }
  return out;
}

/**
 * The GPT of a disk with `sectorSize`-byte sectors, or the reasons none was usable (empty when
 * there is no GPT signature at all, so callers can tell "no GPT" from "a damaged GPT").
 */
export async function readGpt(disk: ByteSource, sectorSize: number): Promise<GptTable | { problems: string[]; signature: boolean }> {
  const lastLba = Math.floor(disk.size / sectorSize) - 1;
  const problems: string[] = [];
  let signature = false;
  const primary = await readGptHeader(disk, sectorSize, 1);
  const candidates: { which: string; header: GptHeader | string | Absent }[] = [{ which: 'primary', header: primary }];
  const backupLbas = new Set<number>();
  if (isHeader(primary) && primary.alternateLba > 1 && primary.alternateLba <= lastLba) backupLbas.add(primary.alternateLba);
  if (lastLba > 1) backupLbas.add(lastLba);
  for (const lba of backupLbas) candidates.push({ which: 'backup', header: await readGptHeader(disk, sectorSize, lba) });
  for (const { which, header } of candidates) {
    if (!isHeader(header)) {
      if (typeof header === 'string') signature = true;
      problems.push(`${which} GPT header: ${typeof header === 'string' ? header : header.reason}`);
      continue;
    }
    signature = true;
    const entries = await readEntries(disk, sectorSize, header);
    if (typeof entries === 'string') {
      problems.push(`${which} GPT: ${entries}`);
      continue;
    }
    const warnings = which === 'primary' ? [] : [...problems, `using the backup GPT header at LBA ${header.lba}`];
    if (header.lastUsable > lastLba)
      warnings.push(`GPT last usable LBA ${header.lastUsable} is past the end of the disk (last LBA ${lastLba})`);
    return { header, partitions: parseEntries(entries, header, sectorSize, disk.size, warnings), warnings };
  }
  return { problems, signature };
}
