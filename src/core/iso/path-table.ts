/**
 * ISO 9660 path tables (ECMA-119 9.4): every directory once, in the L (little-endian) and M
 * (big-endian) copies. We read names from the directory records, so the tables are only parsed
 * and checked lightly: the root first, parents before children, both copies alike. Damage here
 * is reported as a problem, never fatal — xorriso and the kernel do not read them either.
 */
import type { Storage } from '../storage/storage.ts';
import { SECTOR, type VolumeDescriptor } from './descriptors.ts';

export interface PathTableRecord {
  name: string;
  /** Sector of the directory's extent. */
  extent: number;
  /** 1-based number of the parent directory's record. */
  parent: number;
}

export interface PathTableReport {
  size: number;
  /** Sectors of the L (little-endian) and M (big-endian) tables; 0 when absent. */
  'l-location': number;
  'm-location': number;
  /** Records in the L table (its directory count). */
  directories: number;
  /** What is wrong, in words; empty when both tables agree and hold together. */
  problems: string[];
}

/** Path tables we parse; larger ones (over 500 000 directories) are only reported. */
const MAX_TABLE = 16 << 20;

export function parsePathTable(b: Uint8Array, bigEndian: boolean): { records: PathTableRecord[]; problem?: string } {
  const records: PathTableRecord[] = [];
  const u16 = (at: number) => (bigEndian ? (b[at] << 8) | b[at + 1] : b[at] | (b[at + 1] << 8));
  const u32 = (at: number) =>
    bigEndian
      ? b[at] * 0x1000000 + ((b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3])
      : b[at + 3] * 0x1000000 + ((b[at + 2] << 16) | (b[at + 1] << 8) | b[at]);
  for (let at = 0; at + 8 <= b.length;) {
    const length = b[at];
    if (length === 0) return { records, problem: `a record of zero length at byte ${at} of the table` };
    if (at + 8 + length > b.length) return { records, problem: `the record at byte ${at} runs past the table's recorded size` };
    let name = '';
    for (let i = 0; i < length; i++) name += String.fromCharCode(b[at + 8 + i]);
    records.push({ name, extent: u32(at + 2), parent: u16(at + 6) });
    at += 8 + length + (length % 2);
  }
  return { records };
}

export async function readPathTables(storage: Storage, volume: VolumeDescriptor): Promise<PathTableReport> {
  const size = volume.pathTableSize;
  const report: PathTableReport = { size, 'l-location': volume.pathTableL, 'm-location': volume.pathTableM, directories: 0, problems: [] };
  if (size === 0) {
    report.problems.push('the path table size is zero');
    return report;
  }
  if (size > MAX_TABLE) {
    report.problems.push(`the path table size ${size} is beyond the ${MAX_TABLE} bytes we check`);
    return report;
  }
  const tables: Array<{ records: PathTableRecord[]; which: string }> = [];
  for (const [which, sector, bigEndian] of [
    ['L', volume.pathTableL, false],
    ['M', volume.pathTableM, true],
  ] as const) {
    if (sector === 0) continue;
    if (sector * SECTOR + size > storage.size) {
      report.problems.push(`the ${which} path table at sector ${sector} lies past the end of the image`);
      continue;
    }
    const parsed = parsePathTable(await storage.read(sector * SECTOR, size), bigEndian);
    if (parsed.problem) report.problems.push(`${which} path table: ${parsed.problem}`);
    tables.push({ records: parsed.records, which });
  }
  const [first, second] = tables;
  if (!first) return report;
  report.directories = first.records.length;
  const root = first.records[0];
  if (!root || root.name !== '\0' || root.parent !== 1 || root.extent !== volume.root.extent) {
    report.problems.push(`the ${first.which} path table's first record is not the root directory (sector ${volume.root.extent})`);
  }
  const orphan = first.records.findIndex((r, i) => r.parent < 1 || r.parent > i + 1);
  if (orphan >= 0)
    report.problems.push(
      `the ${first.which} path table's record ${orphan + 1} names parent ${first.records[orphan].parent}, which does not come before it`,
    );
  if (second) {
    const differs =
      second.records.length !== first.records.length ||
      second.records.some(
        (r, i) => r.extent !== first.records[i].extent || r.parent !== first.records[i].parent || r.name !== first.records[i].name,
      );
    if (differs) report.problems.push('the L and M path tables differ');
  }
  return report;
}
