/**
 * qcow2 into a sink that can only append (a download stream). A qcow2 file's tables come before
 * the data they describe, so this takes two passes over the source: the first runs the very same
 * conversion with data writes left out, keeping only the metadata; the second emits the file in
 * order, reading the data again (and compressing it again, which gives the same bytes). The file
 * is byte-identical to what the seekable path writes; it costs a second read (and, with -c, a
 * second compression).
 */
import { compressedDescriptor, entryOffset, OFLAG_COMPRESSED_HI } from '../formats/qcow2/entries.ts';
import type { DiskImage } from '../disk.ts';
import { DiskImgError } from '../errors.ts';
import type { Sink } from '../sink.ts';
import { convertToQcow2, type Qcow2ConvertOptions } from './convert-qcow2.ts';
import { throwIfAborted } from './convert.ts';
import { DEFAULT_WRITE_OPTIONS } from '../formats/qcow2/write/writer.ts';

/** Keeps what the planning pass writes, one cluster at a time (metadata only: it is small). */
class MetadataOverlay implements Sink {
  readonly clusters = new Map<number, Uint8Array>();
  length = 0;
  constructor(private readonly clusterSize: number) {}

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    const cs = this.clusterSize;
    for (let at = offset; at < offset + bytes.length;) {
      const index = Math.floor(at / cs);
      const end = Math.min(offset + bytes.length, (index + 1) * cs);
      let cluster = this.clusters.get(index);
      if (!cluster) this.clusters.set(index, (cluster = new Uint8Array(cs)));
      cluster.set(bytes.subarray(at - offset, end - offset), at - index * cs);
      at = end;
    }
    this.length = Math.max(this.length, offset + bytes.length);
  }

  async truncate(size: number): Promise<void> {
    this.length = Math.max(this.length, size);
  }

  async close(): Promise<void> {}

  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    const cs = this.clusterSize;
    for (let at = offset; at < offset + length;) {
      const index = Math.floor(at / cs);
      const end = Math.min(offset + length, (index + 1) * cs);
      const cluster = this.clusters.get(index);
      if (cluster) out.set(cluster.subarray(at - index * cs, end - index * cs), at - offset);
      at = end;
    }
    return out;
  }
}

interface Placement {
  /** Host offset of the cluster (normal) or of the compressed stream. */
  host: number;
  guestCluster: number;
  compressed: boolean;
  /** For compressed streams: the sectors the descriptor promises, to check the second pass. */
  sectors?: number;
}

/** Where every guest cluster went, in host order, read back from the planned L1 and L2 tables. */
function placements(overlay: MetadataOverlay, l1Offset: number, l1Size: number, clusterBits: number): Placement[] {
  const cs = 2 ** clusterBits;
  const l2Entries = cs / 8;
  const list: Placement[] = [];
  const l1 = new DataView(overlay.read(l1Offset, l1Size * 8).buffer);
  for (let i = 0; i < l1Size; i++) {
    const l2 = entryOffset(l1.getUint32(i * 8), l1.getUint32(i * 8 + 4));
    if (l2 === 0) continue;
    const table = new DataView(overlay.read(l2, cs).buffer);
    for (let j = 0; j < l2Entries; j++) {
      const hi = table.getUint32(j * 8);
      const lo = table.getUint32(j * 8 + 4);
      if ((hi & OFLAG_COMPRESSED_HI) !== 0) {
        const d = compressedDescriptor({ clusterBits }, hi, lo);
        list.push({
          host: d.hostOffset,
          guestCluster: i * l2Entries + j,
          compressed: true,
          sectors: (d.length + (d.hostOffset & 511)) / 512,
        });
      } else {
        const host = entryOffset(hi, lo);
        if (host !== 0) list.push({ host, guestCluster: i * l2Entries + j, compressed: false });
      }
    }
  }
  return list.sort((a, b) => a.host - b.host);
}

const WINDOW = 4 * 1024 * 1024;

export async function convertToQcow2Sequential(image: DiskImage, sink: Sink, options: Qcow2ConvertOptions = {}): Promise<void> {
  const writeOptions = { ...DEFAULT_WRITE_OPTIONS, ...options.qcow2 };
  const cs = writeOptions.clusterSize;
  const clusterBits = Math.log2(cs);
  const total = image.virtualSize;
  const halves = (done: number, base: number) => options.onProgress?.(Math.min(total, Math.floor((base + done) / 2)), total);

  // Pass 1: the layout, and the metadata, without the data.
  const overlay = new MetadataOverlay(cs);
  const plan = await convertToQcow2(image, overlay, {
    ...options,
    onProgress: (done) => halves(done, 0),
    qcow2: { ...writeOptions, skipData: true },
  });
  const fileLength = Math.max(plan.length, overlay.length);
  const placed = placements(overlay, plan.l1TableOffset, plan.l1Size, clusterBits);

  // Pass 2: the file in order, window by window.
  let next = 0;
  /** Compressed streams that run on past the current window, with their bytes. */
  let carry: Array<{ placement: Placement; bytes: Uint8Array }> = [];
  const recompress = async (p: Placement): Promise<Uint8Array> => {
    const cluster = new Uint8Array(cs);
    await image.readInto(p.guestCluster * cs, cluster.subarray(0, Math.min(cs, total - p.guestCluster * cs)));
    const result = await options.compressor!.compress(cluster);
    const sectors = result ? Math.floor((p.host + result.length - 1) / 512) - Math.floor(p.host / 512) + 1 : -1;
    if (!result || sectors !== p.sectors) {
      throw new DiskImgError(
        'io',
        'The second pass did not compress a cluster to the same size as the first (did the source change while it was read?)',
        { offset: p.host },
      );
    }
    return result;
  };
  for (let start = 0; start < fileLength; start += WINDOW) {
    throwIfAborted(options.signal);
    const end = Math.min(fileLength, start + WINDOW);
    const window = overlay.read(start, end - start);
    const fresh: Placement[] = [];
    while (next < placed.length && placed[next].host < end) fresh.push(placed[next++]);
    const streams = [
      ...carry,
      ...(await Promise.all(
        fresh.filter((p) => p.compressed).map(async (placement) => ({ placement, bytes: await recompress(placement) })),
      )),
    ];
    carry = [];
    for (const { placement: p, bytes } of streams) {
      const from = Math.max(start, p.host);
      const to = Math.min(end, p.host + bytes.length);
      if (from < to) window.set(bytes.subarray(from - p.host, to - p.host), from - start);
      if (p.host + bytes.length > end) carry.push({ placement: p, bytes });
    }
    for (const p of fresh) {
      if (p.compressed) continue;
      const guest = p.guestCluster * cs;
      const part = window.subarray(p.host - start, p.host - start + Math.min(cs, end - p.host));
      part.fill(0);
      await image.readInto(guest, part.subarray(0, Math.max(0, Math.min(part.length, total - guest))));
      // Every allocated cluster was written whole (data and zero fill), so it is enciphered whole.
      writeOptions.encryption?.cipher.encrypt(part, p.host / 512);
    }
    await sink.write(start, window);
    halves(Math.floor((end / fileLength) * total), total);
  }
}
