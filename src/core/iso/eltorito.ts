/** El Torito: the boot catalog (validation entry, default entry, sections) and its boot images. */
import { DiskImgError } from '../errors.ts';
import type { Storage } from '../storage/storage.ts';
import { SECTOR, u16, u32 } from './descriptors.ts';

export type Platform = 'bios' | 'uefi' | 'powerpc' | 'mac' | `0x${string}`;
export type Emulation = 'none' | '1.2M floppy' | '1.44M floppy' | '2.88M floppy' | 'hard disk' | `0x${string}`;

export interface BootEntry {
  platform: Platform;
  emulation: Emulation;
  bootable: boolean;
  loadSegment: number;
  systemType: number;
  /** Sector count as stored (in 512-byte virtual sectors). */
  sectorCount: number;
  /** Where the boot image starts (bytes). */
  offset: number;
  /**
   * Bytes of the boot image as extracted: the size of the file on the disc that starts at the
   * image's sector when there is one (isolinux.bin, efi.img), else a floppy's size for floppy
   * emulation, else for an EFI FAT image its file system's size, else the stored sector count.
   */
  loadSize: number;
  /** Where loadSize came from. */
  sizeFrom: 'file' | 'floppy' | 'fat' | 'sector-count';
  /** The file on the disc that holds the image, when the tree has one at the same sector. */
  path?: string;
}

const FLOPPY_BYTES: Record<number, number> = { 1: 1_228_800, 2: 1_474_560, 3: 2_949_120 };

export interface BootCatalog {
  offset: number;
  validationId: string;
  entries: BootEntry[];
  /** Damage in the catalog, each naming its entry: duplicates, invalid entries (skipped), images past the end. */
  warnings: string[];
}

const MAX_ENTRIES = 256;

function platformName(id: number): Platform {
  return id === 0 ? 'bios' : id === 0xef ? 'uefi' : id === 1 ? 'powerpc' : id === 2 ? 'mac' : `0x${id.toString(16).padStart(2, '0')}`;
}

function emulationName(media: number): Emulation {
  return (['none', '1.2M floppy', '1.44M floppy', '2.88M floppy', 'hard disk'] as const)[media & 0x0f] ?? `0x${media.toString(16)}`;
}

/** An EFI boot image is usually a FAT file system: its boot sector says how big it really is. */
async function fatSize(storage: Storage, offset: number): Promise<number | undefined> {
  if (offset + 512 > storage.size) return undefined;
  const b = await storage.read(offset, 512);
  if (b[510] !== 0x55 || b[511] !== 0xaa) return undefined;
  const bytesPerSector = u16(b, 11);
  const sectors = u16(b, 19) || u32(b, 32);
  if (![512, 1024, 2048, 4096].includes(bytesPerSector) || sectors === 0) return undefined;
  return bytesPerSector * sectors;
}

export async function readBootCatalog(storage: Storage, sector: number): Promise<BootCatalog> {
  const offset = sector * SECTOR;
  if (offset + SECTOR > storage.size) {
    throw new DiskImgError('invalid-format', `The El Torito boot catalog lies at sector ${sector}, past the end of the image`, {
      file: storage.name,
      field: 'boot catalog',
      offset,
      value: sector,
    });
  }
  const b = await storage.read(offset, SECTOR);
  if (b[0] !== 1 || b[30] !== 0x55 || b[31] !== 0xaa) {
    throw new DiskImgError(
      'invalid-format',
      `The El Torito validation entry at byte ${offset} is not valid (header ${b[0]}, key ${b[30].toString(16)} ${b[31].toString(16)})`,
      { file: storage.name, field: 'validation entry', offset },
    );
  }
  let sum = 0;
  for (let i = 0; i < 32; i += 2) sum = (sum + u16(b, i)) & 0xffff;
  if (sum !== 0)
    throw new DiskImgError(
      'invalid-format',
      `The El Torito validation entry's checksum is wrong (the words sum to 0x${sum.toString(16)}, not 0)`,
      { file: storage.name, field: 'validation checksum', offset: offset + 28 },
    );
  const entries: BootEntry[] = [];
  let platform = b[1];
  const entry = async (at: number): Promise<BootEntry> => {
    const media = b[at + 1];
    const sectorCount = u16(b, at + 6);
    const start = u32(b, at + 8) * SECTOR;
    const p = platformName(platform);
    const stored = sectorCount * 512;
    const floppy = FLOPPY_BYTES[media & 0x0f];
    const fat = floppy === undefined && p === 'uefi' ? await fatSize(storage, start) : undefined;
    const [loadSize, sizeFrom] =
      floppy !== undefined ? [floppy, 'floppy' as const] : fat !== undefined ? [fat, 'fat' as const] : [stored, 'sector-count' as const];
    return {
      platform: p,
      emulation: emulationName(media),
      bootable: b[at] === 0x88,
      loadSegment: u16(b, at + 2),
      systemType: b[at + 4],
      sectorCount,
      offset: start,
      loadSize,
      sizeFrom,
    };
  };
  const warnings: string[] = [];
  const seen = new Map<string, number>();
  const add = async (at: number) => {
    const where = offset + at;
    if (b[at] !== 0x88 && b[at] !== 0x00) {
      warnings.push(`the entry at byte ${where} has boot indicator 0x${b[at].toString(16)} (neither 0x88 nor 0): skipped`);
      return;
    }
    const e = await entry(at);
    const index = entries.length;
    const key = `${e.platform}:${b[at + 1]}:${e.offset}:${e.sectorCount}:${e.loadSegment}`;
    const twin = seen.get(key);
    if (twin !== undefined) warnings.push(`entry [${index}] at byte ${where} is a duplicate of entry [${twin}]`);
    else seen.set(key, index);
    if ((b[at + 1] & 0x0f) > 4) warnings.push(`entry [${index}] at byte ${where} has an unknown media type 0x${b[at + 1].toString(16)}`);
    if (e.offset >= storage.size)
      warnings.push(
        `entry [${index}] at byte ${where}: its image at byte ${e.offset} lies past the end of the image (${storage.size} bytes)`,
      );
    entries.push(e);
  };
  await add(32);
  // Section headers (0x90, 0x91 for the last) each followed by their section entries.
  for (let at = 64; at + 32 <= SECTOR && entries.length < MAX_ENTRIES;) {
    const header = b[at];
    if (header !== 0x90 && header !== 0x91) break;
    platform = b[at + 1];
    const count = u16(b, at + 2);
    at += 32;
    for (let i = 0; i < count && at + 32 <= SECTOR && entries.length < MAX_ENTRIES; i++) {
      await add(at);
      at += 32;
      while (at + 32 <= SECTOR && b[at] === 0x44) at += 32; // section entry extensions
    }
    if (header === 0x91) break;
  }
  return { offset, validationId: String.fromCharCode(...b.subarray(4, 28)).replace(/[\s\0]+$/, ''), entries, warnings };
}
