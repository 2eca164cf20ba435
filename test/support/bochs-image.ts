/**
 * Writes Bochs "growing" redolog images as bximage lays them out (qemu-img cannot make them):
 * 512-byte header, catalog, then for each allocated extent a sector bitmap and its sectors.
 */
import { writeFileSync } from 'node:fs';

export interface BochsSpec {
  version: 1 | 2;
  diskBytes: number;
  extentBytes: number;
  /** Guest sectors to write, with the byte to fill each with. */
  sectors: Map<number, number>;
  /** Slots in the data area are handed out in this order of extent index (default: ascending). */
  order?: number[];
}

export function bochsImage(file: string, spec: BochsSpec): void {
  const sectorsPerExtent = spec.extentBytes / 512;
  const bitmapBytes = Math.ceil(sectorsPerExtent / 8);
  const bitmapBlocks = Math.ceil(bitmapBytes / 512);
  const catalogEntries = Math.ceil(spec.diskBytes / spec.extentBytes);
  const headerSize = 512;
  const used = [...new Set([...spec.sectors.keys()].map((s) => Math.floor(s / sectorsPerExtent)))].sort((a, b) => a - b);
  const order = spec.order ?? used;
  const dataOffset = headerSize + catalogEntries * 4;
  const slotBytes = (bitmapBlocks + sectorsPerExtent) * 512;
  const out = Buffer.alloc(dataOffset + order.length * slotBytes);
  out.write('Bochs Virtual HD Image', 0, 'latin1');
  out.write('Redolog', 32, 'latin1');
  out.write('Growing', 48, 'latin1');
  out.writeUInt32LE(spec.version === 1 ? 0x10000 : 0x20000, 64);
  out.writeUInt32LE(headerSize, 68);
  out.writeUInt32LE(catalogEntries, 72);
  out.writeUInt32LE(bitmapBytes, 76);
  out.writeUInt32LE(spec.extentBytes, 80);
  out.writeBigUInt64LE(BigInt(spec.diskBytes), spec.version === 1 ? 84 : 88);
  for (let i = 0; i < catalogEntries; i++) out.writeUInt32LE(0xffffffff, headerSize + i * 4);
  order.forEach((extent, slot) => out.writeUInt32LE(slot, headerSize + extent * 4));
  for (const [sector, fill] of spec.sectors) {
    const extent = Math.floor(sector / sectorsPerExtent);
    const slot = order.indexOf(extent);
    const within = sector % sectorsPerExtent;
    const base = dataOffset + slot * slotBytes;
    out[base + (within >> 3)] |= 1 << (within & 7);
    out.fill(fill, base + bitmapBlocks * 512 + within * 512, base + bitmapBlocks * 512 + (within + 1) * 512);
  }
  writeFileSync(file, out);
}
