/**
 * qemu-img rebase for a qcow2 overlay, in place (qemu-img.c img_rebase, block/qcow2.c
 * qcow2_change_backing_file):
 * - safe mode: wherever the overlay holds nothing, the old backing chain and the new one are read
 *   in 2 MiB steps and compared 512 bytes at a time; each differing run is written into the
 *   overlay from the old chain (a cluster it starts gets the old chain's whole cluster, as QEMU's
 *   copy-on-write fills it from the backing file, still the old one then), past the old chain's
 *   end as zeros. QEMU does this one request at a time, so the placement is deterministic.
 * - then (and alone with -u) cluster 0 is rewritten as qcow2_update_header writes it, naming the
 *   new backing file and format, or none.
 * A crash during the copy leaves the overlay reading as before (it only gains clusters that read
 * as the old chain did); the header is one write of the first cluster, after all data is synced.
 */
import type { DiskImage } from '../../disk.ts';
import { DiskImgError } from '../../errors.ts';
import type { WritableStorage } from '../../storage/writable.ts';
import { CRYPT_AES, KNOWN_HEADER_LENGTH, type Qcow2Header } from './header.ts';
import type { Extensions } from './extensions.ts';
import { Qcow2GuestWriter } from './guest-writer.ts';
import { buildHeaderCluster } from './write/header-writer.ts';

/** img_rebase's IO_BUF_SIZE. */
const STEP = 2 << 20;
const SECTOR = 512;

const unsupported = (message: string): never => {
  throw new DiskImgError('unsupported', message);
};

/** What rewriting the header needs that diskimg does not write back: said before anything changes. */
export function refuseHeaderRewrite(h: Qcow2Header, extensions: Extensions): void {
  if (h.headerLength > KNOWN_HEADER_LENGTH)
    unsupported(`The header is ${h.headerLength} bytes long (fields QEMU 7.2 does not know): rewriting it is not supported by diskimg yet`);
  if (extensions.bitmaps || extensions.list.some((e) => e.name === 'unknown'))
    unsupported('The header has bitmaps or unknown extensions: rewriting it is not supported by diskimg yet');
}

/** Cluster 0 as qcow2_update_header writes it after qcow2_change_backing_file. */
export function headerWithBacking(h: Qcow2Header, extensions: Extensions, backing?: { name: string; format?: string }): Uint8Array {
  const cluster = buildHeaderCluster({
    version: h.version,
    clusterBits: h.clusterBits,
    virtualSize: h.sizeField,
    l1Size: h.l1Size,
    l1TableOffset: h.l1TableOffset,
    refcountTableOffset: h.refcountTableOffset,
    refcountTableClusters: h.refcountTableClusters,
    refcountOrder: h.refcountOrder,
    compressionType: h.compressionType,
    lazyRefcounts: false,
    extendedL2: h.extendedL2,
    backingFile: backing?.name,
    backingFormat: backing?.format,
    dataFile: extensions.dataFile,
    cryptoHeader: extensions.crypto,
  });
  const view = new DataView(cluster.buffer);
  if (h.cryptMethod === CRYPT_AES) view.setUint32(32, CRYPT_AES);
  view.setUint32(60, h.nbSnapshots);
  view.setBigUint64(64, BigInt(h.snapshotsOffset));
  if (h.version === 3) {
    // The image's own feature bits, as QEMU keeps them in memory.
    view.setBigUint64(72, h.incompatibleFeatures);
    view.setBigUint64(80, h.compatibleFeatures);
    view.setBigUint64(88, h.autoclearFeatures);
  }
  return cluster;
}

/** The bytes [offset, offset + length) of a chain, zeros past its end (or everywhere, with none). */
async function readView(chain: DiskImage | undefined, offset: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  const size = chain?.virtualSize ?? 0;
  if (chain && offset < size) out.set(await chain.read(offset, Math.min(length, size - offset)));
  return out;
}

/**
 * Safe mode's copy: `overlay` is the image opened with its chain (layer 0 the overlay),
 * `oldChain` its current backing chain, `newChain` the one it is rebased onto (undefined: none).
 */
export async function copyDifferences(
  file: WritableStorage,
  h: Qcow2Header,
  overlay: DiskImage,
  oldChain: DiskImage | undefined,
  newChain: DiskImage | undefined,
  onProgress?: (done: number, total: number) => void,
): Promise<void> {
  const writer = await Qcow2GuestWriter.open(file, h);
  const cs = h.clusterSize;
  const size = overlay.virtualSize;
  const oldSize = oldChain?.virtualSize ?? 0;
  const newSize = newChain?.virtualSize ?? 0;
  const top = overlay.layers[0];
  /** Clusters at or below this index are already written by this run (in place from now on). */
  let written = -1;
  const write = async (from: number, to: number, zero: boolean) => {
    const first = Math.max(Math.floor(from / cs), written + 1);
    const last = Math.ceil(to / cs) - 1;
    if (last < first) {
      // Within a cluster this run already wrote: it holds the old chain's bytes there already.
      return;
    }
    if (zero && from === first * cs && (to === (last + 1) * cs || to === size) && h.version >= 3) {
      await writer.writeZeros(first * cs, (last - first + 1) * cs);
    } else {
      await writer.writeData(first * cs, await readView(oldChain, first * cs, (last - first + 1) * cs));
    }
    written = last;
  };
  for (let offset = 0; offset < size;) {
    let n = Math.min(STEP, size - offset);
    const extents = top.mappings(offset, offset + n);
    const { value: extent } = await extents.next();
    await extents.return(undefined);
    if (extent) n = Math.min(n, extent.start + extent.length - offset);
    if (extent && extent.kind !== 'unallocated') {
      offset += n;
      continue;
    }
    const oldIsZero = offset >= oldSize;
    if (!oldIsZero) n = Math.min(n, oldSize - offset);
    if (newChain && offset < newSize) n = Math.min(n, newSize - offset);
    const before = await readView(oldChain, offset, n);
    const after = await readView(newChain, offset, n);
    for (let at = 0; at < n;) {
      const end = Math.min(n, at + SECTOR);
      const differs = !sameBytes(before, after, at, end);
      let runEnd = end;
      while (runEnd < n) {
        const next = Math.min(n, runEnd + SECTOR);
        if (!sameBytes(before, after, runEnd, next) !== differs) break;
        runEnd = next;
      }
      if (differs) await write(offset + at, offset + runEnd, oldIsZero);
      at = runEnd;
    }
    offset += n;
    onProgress?.(offset, size);
  }
  await writer.flush();
}

function sameBytes(a: Uint8Array, b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (a[i] !== b[i]) return false;
  return true;
}
