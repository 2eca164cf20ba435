/**
 * qcow2_make_empty, what qemu-img commit does to the overlay once its data is in the backing file
 * (block/qcow2.c): a v3 image with no snapshots, bitmaps, encryption or data file is reset whole
 * (make_completely_empty: a fresh reftable, refblock and L1 table right after the header, the file
 * cut after them); any other is emptied entry by entry (qcow2_cluster_discard, full discard): every
 * L2 entry cleared and its cluster freed — zeroed, as QEMU punches it — L2 tables kept, and, as
 * QEMU's get_cluster_table does on the way, an empty L2 table given to every L1 entry without one
 * and a shared one copied.
 */
import type { WritableStorage } from '../../storage/writable.ts';
import { AUTOCLEAR_BITMAPS, CRYPT_LUKS, hasIncompat, INCOMPAT_DATA_FILE, INCOMPAT_DIRTY, type Qcow2Header } from './header.ts';
import { Qcow2GuestWriter, refuseUnwritable } from './guest-writer.ts';

const INCOMPAT_OFFSET = 72;

/** Whether QEMU resets the image whole (make_completely_empty) rather than discarding each entry. */
export function emptiesWhole(h: Qcow2Header): boolean {
  const l1Clusters = Math.ceil(h.l1Size / (h.clusterSize / 8));
  const refcountsPerBlock = (h.clusterSize * 8) / 2 ** h.refcountOrder;
  return (
    h.version >= 3 &&
    h.nbSnapshots === 0 &&
    (h.autoclearFeatures & BigInt(AUTOCLEAR_BITMAPS)) === 0n &&
    3 + l1Clusters <= refcountsPerBlock &&
    h.cryptMethod !== CRYPT_LUKS &&
    !hasIncompat(h, INCOMPAT_DATA_FILE)
  );
}

async function writeIncompat(file: WritableStorage, h: Qcow2Header, dirty: boolean): Promise<void> {
  const bytes = new Uint8Array(8);
  const features = dirty ? h.incompatibleFeatures | BigInt(INCOMPAT_DIRTY) : h.incompatibleFeatures & ~BigInt(INCOMPAT_DIRTY);
  new DataView(bytes.buffer).setBigUint64(0, features);
  await file.write(INCOMPAT_OFFSET, bytes);
  await file.sync();
}

/** A refcount block counting 1 for each of the first `count` clusters, in the image's width. */
function firstClustersBlock(h: Qcow2Header, count: number): Uint8Array {
  const block = new Uint8Array(h.clusterSize);
  const bits = 2 ** h.refcountOrder;
  for (let i = 0; i < count; i++) {
    if (bits >= 8) block[(i + 1) * (bits / 8) - 1] = 1;
    else block[Math.floor((i * bits) / 8)] |= 1 << ((i * bits) % 8);
  }
  return block;
}

/**
 * make_completely_empty, in QEMU's order. The refcounts are wrong from the first zeroing until the
 * new refblock is in, so the dirty flag is set first and cleared last: a process killed in between
 * leaves an image QEMU repairs on its next writable open, as `qemu-img check -r all` does.
 */
async function emptyWhole(file: WritableStorage, h: Qcow2Header): Promise<void> {
  const cs = h.clusterSize;
  const l1Clusters = Math.ceil(h.l1Size / (cs / 8));
  await writeIncompat(file, h, true);
  const zeros = new Uint8Array(cs);
  for (let i = 0; i < l1Clusters; i++) await file.write(h.l1TableOffset + i * cs, zeros);
  for (let i = 0; i < 2 + l1Clusters; i++) await file.write(cs + i * cs, zeros);
  await file.sync();
  // The header's l1_table_offset, refcount_table_offset and refcount_table_clusters, in one write.
  const tables = new Uint8Array(20);
  const view = new DataView(tables.buffer);
  view.setBigUint64(0, BigInt(3 * cs));
  view.setBigUint64(8, BigInt(cs));
  view.setUint32(16, 1);
  await file.write(40, tables);
  await file.sync();
  const entry = new Uint8Array(8);
  new DataView(entry.buffer).setBigUint64(0, BigInt(2 * cs));
  await file.write(cs, entry);
  await file.sync();
  await file.write(2 * cs, firstClustersBlock(h, 3 + l1Clusters));
  await file.sync();
  await writeIncompat(file, h, false);
  await file.truncate((3 + l1Clusters) * cs);
  await file.sync();
}

/** qcow2_make_empty on the image `file` holds (header `h`, as read before any change). */
export async function makeEmpty(file: WritableStorage, h: Qcow2Header): Promise<void> {
  refuseUnwritable(h, file.name);
  if (emptiesWhole(h)) return emptyWhole(file, h);
  const writer = await Qcow2GuestWriter.open(file, h);
  // QEMU discards in steps of INT_MAX rounded down to clusters; each step, table by table.
  for (let l1Index = 0; l1Index < h.l1Size; l1Index++) {
    const start = l1Index * h.l2Coverage;
    if (start >= h.virtualSize) break;
    await writer.discard(start, Math.min(h.virtualSize, start + h.l2Coverage) - start);
  }
  await writer.flush();
}
