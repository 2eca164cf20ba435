/**
 * Writes a VHD as QEMU's vpc driver does (block/vpc.c, qemu 7.2): vpc_co_create lays out the
 * footer, the dynamic disk header and a BAT of unallocated entries; each guest write into a block
 * not yet allocated allocates it at the end of the file (its sector bitmap all ones, the footer
 * moved past it, its BAT entry written), as alloc_block does. A fixed VHD is the guest disk
 * followed by its footer.
 */
import { DiskImgError } from '../../errors.ts';
import type { GuestWriter } from '../output/guest-writer.ts';
import type { HostFile } from '../output/host-file.ts';
import { ascii, randomUuid, setBe64 } from '../output/fields.ts';
import { FOOTER_SIZE, MAX_SECTORS, TYPE_DYNAMIC, TYPE_FIXED } from './footer.ts';

export interface VpcWriteOptions {
  subformat: 'dynamic' | 'fixed';
  /** Keep the size asked for instead of rounding it up to a CHS geometry (creator "qem2"). */
  forceSize: boolean;
}

export const DEFAULT_VPC_OPTIONS: VpcWriteOptions = { subformat: 'dynamic', forceSize: false };

const SECTOR = 512;
const BLOCK_SIZE = 0x200000;
const BITMAP_SIZE = 512;
const DYNAMIC_HEADER_SIZE = 1024;
const BAT_OFFSET = 3 * 512;
const UNALLOCATED = 0xffffffff;
/** 65535 cylinders × 16 heads × 255 sectors per track: the most CHS can say. */
const MAX_GEOMETRY = 65535 * 16 * 255;
/** Seconds from the Unix epoch to the VHD one (2000-01-01). */
const VHD_EPOCH = 946684800;

export interface Geometry {
  cylinders: number;
  heads: number;
  sectorsPerTrack: number;
}

/** calculate_geometry: the VHD specification's CHS for a sector count (which it may round down). */
export function calculateGeometry(totalSectors: number): Geometry {
  totalSectors = Math.min(totalSectors, MAX_GEOMETRY);
  let sectorsPerTrack: number;
  let heads: number;
  let cylTimesHeads: number;
  if (totalSectors >= 65535 * 16 * 63) {
    sectorsPerTrack = 255;
    heads = 16;
    cylTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
  } else {
    sectorsPerTrack = 17;
    cylTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    heads = Math.max(4, Math.ceil(cylTimesHeads / 1024));
    if (cylTimesHeads >= heads * 1024 || heads > 16) {
      sectorsPerTrack = 31;
      heads = 16;
      cylTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    }
    if (cylTimesHeads >= heads * 1024) {
      sectorsPerTrack = 63;
      heads = 16;
      cylTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    }
  }
  return { cylinders: Math.floor(cylTimesHeads / heads), heads, sectorsPerTrack };
}

/**
 * The size vpc_co_create gives a disk asked to be `size` bytes, and its geometry: the smallest CHS
 * geometry that holds it (so that a conversion never cuts the disk short), unless force_size, or
 * unless the disk is past what CHS can say; then the size as asked, up to 2040 GiB.
 */
export function vpcSize(size: number, forceSize: boolean): { size: number; geometry: Geometry } {
  let geometry: Geometry = { cylinders: 0, heads: 0, sectorsPerTrack: 0 };
  let totalSectors: number;
  if (forceSize) {
    geometry = { cylinders: 65535, heads: 16, sectorsPerTrack: 255 };
  } else {
    totalSectors = Math.min(MAX_GEOMETRY, Math.floor(size / SECTOR));
    const chs = (g: Geometry) => g.cylinders * g.heads * g.sectorsPerTrack;
    for (let i = 0; totalSectors > chs(geometry); i++) geometry = calculateGeometry(totalSectors + i);
  }
  if (geometry.cylinders * geometry.heads * geometry.sectorsPerTrack === MAX_GEOMETRY) {
    totalSectors = Math.floor(size / SECTOR);
    if (totalSectors > MAX_SECTORS)
      throw new DiskImgError('usage', 'Disk size is too large, max size is 2040 GiB', { field: 'size', value: size });
  } else {
    totalSectors = geometry.cylinders * geometry.heads * geometry.sectorsPerTrack;
  }
  return { size: totalSectors * SECTOR, geometry };
}

/** vpc_checksum: the one's complement of the sum of the bytes (the checksum field zero). */
function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum += b;
  return ~sum >>> 0;
}

function buildFooter(size: number, geometry: Geometry, options: VpcWriteOptions): Uint8Array {
  const footer = new Uint8Array(FOOTER_SIZE);
  const v = new DataView(footer.buffer);
  ascii(footer, 0, 'conectix');
  v.setUint32(8, 0x02); // features: reserved bit, always set
  v.setUint32(12, 0x00010000);
  if (options.subformat === 'dynamic') setBe64(v, 16, 512);
  else v.setBigUint64(16, 0xffffffffffffffffn);
  v.setUint32(24, (Math.floor(Date.now() / 1000) - VHD_EPOCH) >>> 0);
  ascii(footer, 28, options.forceSize ? 'qem2' : 'qemu');
  v.setUint32(32, 0x00050003); // Virtual PC 2007
  ascii(footer, 36, 'Wi2k');
  setBe64(v, 40, size);
  setBe64(v, 48, size);
  v.setUint16(56, geometry.cylinders);
  footer[58] = geometry.heads;
  footer[59] = geometry.sectorsPerTrack;
  v.setUint32(60, options.subformat === 'dynamic' ? TYPE_DYNAMIC : TYPE_FIXED);
  footer.set(randomUuid(), 68);
  v.setUint32(64, checksum(footer));
  return footer;
}

function buildDynamicHeader(batEntries: number): Uint8Array {
  const header = new Uint8Array(DYNAMIC_HEADER_SIZE);
  const v = new DataView(header.buffer);
  ascii(header, 0, 'cxsparse');
  // The specification says 0xFFFFFFFF; Microsoft's tools expect all 64 bits set, as qemu writes.
  v.setBigUint64(8, 0xffffffffffffffffn);
  setBe64(v, 16, BAT_OFFSET);
  v.setUint32(24, 0x00010000);
  v.setUint32(28, batEntries);
  v.setUint32(32, BLOCK_SIZE);
  v.setUint32(36, checksum(header));
  return header;
}

export class VpcWriter implements GuestWriter {
  private readonly bat: Uint32Array;
  private freeDataBlockOffset = 0;

  private constructor(
    private readonly host: HostFile,
    private readonly footer: Uint8Array,
    readonly size: number,
    readonly dynamic: boolean,
  ) {
    this.bat = new Uint32Array(dynamic ? Math.ceil(size / BLOCK_SIZE) : 0).fill(UNALLOCATED);
  }

  static async create(host: HostFile, virtualSize: number, options: VpcWriteOptions = DEFAULT_VPC_OPTIONS): Promise<VpcWriter> {
    const { size, geometry } = vpcSize(virtualSize, options.forceSize);
    const footer = buildFooter(size, geometry, options);
    const writer = new VpcWriter(host, footer, size, options.subformat === 'dynamic');
    if (writer.dynamic) {
      // create_dynamic_disk: the footer's copy, the footer after the BAT, the BAT, the header.
      const batBytes = Math.ceil((writer.bat.length * 4) / 512) * 512;
      await host.metadata(0, footer);
      await host.metadata(BAT_OFFSET + batBytes, footer);
      await host.metadata(BAT_OFFSET, new Uint8Array(batBytes).fill(0xff));
      await host.metadata(512, buildDynamicHeader(writer.bat.length));
      writer.freeDataBlockOffset = BAT_OFFSET + batBytes;
    } else {
      await host.setLength(size + FOOTER_SIZE);
      await host.metadata(size, footer);
    }
    return writer;
  }

  async write(guestOffset: number, bytes: Uint8Array): Promise<void> {
    if (guestOffset + bytes.length > this.size) {
      throw new DiskImgError('usage', `A write at ${guestOffset} of ${bytes.length} bytes runs past the VHD's ${this.size} bytes`, {
        offset: guestOffset,
      });
    }
    if (!this.dynamic) return this.host.data(guestOffset, bytes, guestOffset);
    for (let done = 0; done < bytes.length;) {
      const at = guestOffset + done;
      const index = Math.floor(at / BLOCK_SIZE);
      const inBlock = at % BLOCK_SIZE;
      const n = Math.min(bytes.length - done, BLOCK_SIZE - inBlock);
      if (this.bat[index] === UNALLOCATED) await this.allocate(index);
      // The bitmap was set all ones when the block was allocated; rewriting it changes nothing.
      await this.host.data(this.bat[index] * 512 + BITMAP_SIZE + inBlock, bytes.subarray(done, done + n), at);
      done += n;
    }
  }

  /** alloc_block: the block goes at the end, its bitmap all ones; the footer moves past it. */
  private async allocate(index: number): Promise<void> {
    const offset = this.freeDataBlockOffset;
    this.bat[index] = offset / 512;
    await this.host.metadata(offset, new Uint8Array(BITMAP_SIZE).fill(0xff));
    this.freeDataBlockOffset += BITMAP_SIZE + BLOCK_SIZE;
    await this.host.metadata(this.freeDataBlockOffset, this.footer);
    const entry = new Uint8Array(4);
    new DataView(entry.buffer).setUint32(0, this.bat[index]);
    await this.host.metadata(BAT_OFFSET + 4 * index, entry);
  }

  async finish(): Promise<void> {}
}
