/**
 * qemu-img snapshot -c / -d / -a for qcow2, in place, as block/qcow2-snapshot.c does them:
 * a snapshot is a copy of the active L1 table plus one more reference on every cluster it
 * reaches (qcow2_update_snapshot_refcount), and an entry in the snapshot table, which is rewritten
 * whole into new clusters and switched to by one header write (qcow2_write_snapshots).
 *
 * Write order, each step synced before the next, so a process killed anywhere leaves an image
 * that `qemu-img check` finds clean, or with leaked clusters, or with COPIED flags to fix
 * (`check -r all`) — never a cluster in use with too low a refcount:
 * - create: the L1 copy (unreferenced) → its refcount → +1 on every cluster it reaches → the
 *   active tables' COPIED flags cleared → the new snapshot table and its refcount → the header →
 *   the old table freed;
 * - delete: the new table (without the entry) and its refcount → the header → the old table
 *   freed → −1 on every cluster the snapshot reached → its L1 copy freed → COPIED flags set again
 *   where a cluster is the active disk's alone;
 * - apply: +1 on the snapshot's clusters → its L1 written over the active one (the switch) → −1 on
 *   what the active disk reached → COPIED flags made right.
 * Clusters whose refcount falls to 0 are zeroed, as QEMU discards them (pass-discard-snapshot).
 */
import { DiskImgError } from '../../errors.ts';
import type { WritableStorage } from '../../storage/writable.ts';
import { INCOMPAT_CORRUPT, INCOMPAT_DATA_FILE, INCOMPAT_DIRTY, hasIncompat, type Qcow2Header } from './header.ts';
import { Refcounts } from './refcounts.ts';
import { readSnapshots, type Snapshot } from './snapshots.ts';

const OFFSET_MASK = 0x00fffffffffffe00n;
const COPIED = 1n << 63n;
const COMPRESSED = 1n << 62n;
const ZERO_FLAG = 1n;

const unsupported = (message: string): never => {
  throw new DiskImgError('unsupported', message);
};

function refuseUnsupported(h: Qcow2Header): void {
  if (hasIncompat(h, INCOMPAT_CORRUPT)) unsupported('qcow2: Image is corrupt; cannot be opened read/write');
  if (hasIncompat(h, INCOMPAT_DIRTY))
    unsupported('The image is marked dirty (its refcounts are not up to date): repair it with qemu-img check -r all first');
  // QEMU refuses internal snapshots with an external data file, in these words.
  if (hasIncompat(h, INCOMPAT_DATA_FILE)) unsupported('-95 (Operation not supported)');
}

/** Clusters whose refcount fell to 0, zeroed once their step is on disk. */
class Discards {
  private clusters: number[] = [];
  constructor(
    private readonly file: WritableStorage,
    private readonly clusterSize: number,
  ) {}
  add = (cluster: number) => {
    this.clusters.push(cluster);
  };
  async flush(): Promise<void> {
    const zeros = new Uint8Array(this.clusterSize);
    const length = await this.file.length();
    for (const cluster of this.clusters.sort((a, b) => a - b)) {
      const offset = cluster * this.clusterSize;
      if (offset < length) await this.file.write(offset, zeros.subarray(0, Math.min(this.clusterSize, length - offset)));
    }
    this.clusters = [];
  }
}

/**
 * qcow2_update_snapshot_refcount: `addend` (+1, −1 or 0) on every cluster the L1 table reaches,
 * then COPIED set exactly where a refcount is 1. Returns the L1 table's new bytes (COPIED flags);
 * L2 tables are written here, one at a time.
 */
async function updateReferences(
  file: WritableStorage,
  h: Qcow2Header,
  refcounts: Refcounts,
  l1: Uint8Array,
  addend: number,
  discards: Discards,
): Promise<Uint8Array> {
  const cs = h.clusterSize;
  const out = l1.slice();
  const l1View = new DataView(out.buffer);
  const entryBytes = h.l2EntryBytes;
  const offsetBits = 62 - (h.clusterBits - 8);
  for (let i = 0; i < out.length / 8; i++) {
    const l1Entry = l1View.getBigUint64(i * 8);
    const l2Offset = Number(l1Entry & OFFSET_MASK);
    if (l2Offset === 0) continue;
    const l2 = await file.read(l2Offset, cs);
    const l2View = new DataView(l2.buffer, l2.byteOffset, l2.length);
    let changed = false;
    for (let j = 0; j < cs / entryBytes; j++) {
      const old = l2View.getBigUint64(j * entryBytes);
      let entry = old & ~COPIED;
      let refcount = 0;
      if (entry & COMPRESSED) {
        if (addend !== 0) {
          const offset = Number(entry & ((1n << BigInt(offsetBits)) - 1n));
          const sectors = Number((entry >> BigInt(offsetBits)) & ((1n << BigInt(h.clusterBits - 8)) - 1n)) + 1;
          const end = (Math.floor(offset / 512) + sectors) * 512;
          const first = Math.floor(offset / cs);
          await refcounts.add(first, Math.floor((end - 1) / cs) - first + 1, addend, discards.add);
        }
        refcount = 2; // compressed clusters are never written in place
      } else {
        const offset = Number(entry & OFFSET_MASK);
        const plainZero = !h.extendedL2 && (entry & ZERO_FLAG) !== 0n && offset === 0;
        if (offset !== 0 && !plainZero) {
          if (addend !== 0) await refcounts.add(offset / cs, 1, addend, discards.add);
          refcount = await refcounts.get(offset / cs);
        }
      }
      if (refcount === 1) entry |= COPIED;
      if (entry !== old) {
        l2View.setBigUint64(j * entryBytes, entry);
        changed = true;
      }
    }
    if (changed) await file.write(l2Offset, l2);
    if (addend !== 0) await refcounts.add(l2Offset / cs, 1, addend, discards.add);
    const refcount = await refcounts.get(l2Offset / cs);
    l1View.setBigUint64(i * 8, refcount === 1 ? BigInt(l2Offset) | COPIED : BigInt(l2Offset));
  }
  return out;
}

/** The snapshot table's entries as stored, each as its bytes (unknown extra data kept). */
async function readEntries(file: WritableStorage, h: Qcow2Header): Promise<Uint8Array[]> {
  const entries: Uint8Array[] = [];
  let at = h.snapshotsOffset;
  for (let i = 0; i < h.nbSnapshots; i++) {
    at = Math.ceil(at / 8) * 8;
    const head = await file.read(at, 40);
    const v = new DataView(head.buffer);
    const length = 40 + v.getUint32(36) + v.getUint16(12) + v.getUint16(14);
    entries.push(await file.read(at, length));
    at += length;
  }
  return entries;
}

function serializeTable(entries: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const entry of entries) size = Math.ceil(size / 8) * 8 + entry.length;
  const table = new Uint8Array(size);
  let at = 0;
  for (const entry of entries) {
    at = Math.ceil(at / 8) * 8;
    table.set(entry, at);
    at += entry.length;
  }
  return table;
}

/** A new entry as qemu-img snapshot -c writes it: no VM state, 24 bytes of extra data. */
function newEntry(id: string, name: string, l1Offset: number, l1Size: number, virtualSize: number, now: Date): Uint8Array {
  const idBytes = new TextEncoder().encode(id);
  const nameBytes = new TextEncoder().encode(name);
  const entry = new Uint8Array(40 + 24 + idBytes.length + nameBytes.length);
  const v = new DataView(entry.buffer);
  v.setBigUint64(0, BigInt(l1Offset));
  v.setUint32(8, l1Size);
  v.setUint16(12, idBytes.length);
  v.setUint16(14, nameBytes.length);
  const ms = now.getTime();
  v.setUint32(16, Math.floor(ms / 1000));
  v.setUint32(20, (ms % 1000) * 1_000_000);
  v.setUint32(36, 24);
  v.setBigUint64(48, BigInt(virtualSize)); // extra: vm_state_size_large 0, disk_size, icount 0
  entry.set(idBytes, 64);
  entry.set(nameBytes, 64 + idBytes.length);
  return entry;
}

/** Finds `count` free clusters where QEMU would (a new refcount block first, if they need one). */
async function allocate(refcounts: Refcounts, count: number): Promise<number> {
  return refcounts.allocate(count);
}

/** Writes a new snapshot table, then switches the header to it, then frees the old one. */
async function replaceTable(
  file: WritableStorage,
  h: Qcow2Header,
  refcounts: Refcounts,
  old: readonly Uint8Array[],
  entries: readonly Uint8Array[],
  discards: Discards,
): Promise<void> {
  const cs = h.clusterSize;
  const table = serializeTable(entries);
  let offset = 0;
  if (table.length > 0) {
    const first = await allocate(refcounts, Math.ceil(table.length / cs));
    offset = first * cs;
    await file.write(offset, table);
    await file.sync();
    await refcounts.add(first, Math.ceil(table.length / cs), 1);
    await file.sync();
  }
  const header = new Uint8Array(12);
  const v = new DataView(header.buffer);
  v.setUint32(0, entries.length);
  v.setBigUint64(4, BigInt(offset));
  await file.write(60, header);
  await file.sync();
  if (h.nbSnapshots > 0) {
    const oldBytes = serializeTable(old).length;
    const first = Math.floor(h.snapshotsOffset / cs);
    await refcounts.add(first, Math.floor((h.snapshotsOffset + oldBytes - 1) / cs) - first + 1, -1, discards.add);
    await file.sync();
  }
}

async function readL1(file: WritableStorage, offset: number, entries: number): Promise<Uint8Array> {
  return file.read(offset, entries * 8);
}

/**
 * Narrow refcounts (1 to 8 bits) can be full: QEMU then fails part-way (-ERANGE, reported as
 * -EINVAL). diskimg looks first, so the image is left untouched.
 */
async function refuseFullRefcounts(
  file: WritableStorage,
  h: Qcow2Header,
  refcounts: Refcounts,
  l1Offset: number,
  l1Size: number,
  message: string,
): Promise<void> {
  if (h.refcountOrder > 3) return;
  const max = 2 ** (2 ** h.refcountOrder) - 1;
  const l1 = new DataView((await readL1(file, l1Offset, l1Size)).buffer);
  const full = async (offset: number) => (await refcounts.get(Math.floor(offset / h.clusterSize))) >= max;
  for (let i = 0; i < l1Size; i++) {
    const l2Offset = Number(l1.getBigUint64(i * 8) & OFFSET_MASK);
    if (l2Offset === 0) continue;
    if (await full(l2Offset)) throw new DiskImgError('limit', message, { value: l2Offset });
    const l2 = new DataView((await file.read(l2Offset, h.clusterSize)).buffer);
    for (let j = 0; j < h.l2Entries; j++) {
      const entry = l2.getBigUint64(j * h.l2EntryBytes);
      const offset = Number(entry & (entry & COMPRESSED ? (1n << BigInt(62 - (h.clusterBits - 8))) - 1n : OFFSET_MASK));
      if (offset !== 0 && (await full(offset))) throw new DiskImgError('limit', message, { value: offset });
    }
  }
}

/** qemu-img snapshot -c NAME. */
export async function createSnapshot(file: WritableStorage, h: Qcow2Header, name: string, now = new Date()): Promise<void> {
  refuseUnsupported(h);
  const cs = h.clusterSize;
  const refcounts = await Refcounts.load(file, h);
  const discards = new Discards(file, cs);
  await refuseFullRefcounts(file, h, refcounts, h.l1TableOffset, h.l1Size, '-22 (Invalid argument)');
  const snapshots = await readSnapshots(file, h);
  const oldTableEntries = await readEntries(file, h);
  // find_new_snapshot_id: one more than the highest numeric id.
  const id = String(snapshots.reduce((max, s) => Math.max(max, Number.parseInt(s.id, 10) || 0), 0) + 1);
  const l1 = await readL1(file, h.l1TableOffset, h.l1Size);
  let copyOffset = 0;
  if (h.l1Size > 0) {
    const count = Math.ceil((h.l1Size * 8) / cs);
    const first = await allocate(refcounts, count);
    copyOffset = first * cs;
    await file.write(copyOffset, l1);
    await file.sync();
    await refcounts.add(first, count, 1);
    await file.sync();
  }
  const active = await updateReferences(file, h, refcounts, l1, 1, discards);
  await file.sync();
  await file.write(h.l1TableOffset, active);
  await file.sync();
  await replaceTable(
    file,
    h,
    refcounts,
    oldTableEntries,
    [...oldTableEntries, newEntry(id, name, copyOffset, h.l1Size, h.sizeField, now)],
    discards,
  );
  await discards.flush();
}

/** qemu-img snapshot -d NAME: the first snapshot of that name. */
export async function deleteSnapshot(file: WritableStorage, h: Qcow2Header, name: string): Promise<void> {
  refuseUnsupported(h);
  const cs = h.clusterSize;
  const snapshots = await readSnapshots(file, h);
  const index = snapshots.findIndex((s) => s.name === name);
  if (index < 0) throw new DiskImgError('not-found', 'snapshot not found', { value: name });
  const refcounts = await Refcounts.load(file, h);
  const discards = new Discards(file, cs);
  const oldTableEntries = await readEntries(file, h);
  const gone = snapshots[index];
  await replaceTable(
    file,
    h,
    refcounts,
    oldTableEntries,
    oldTableEntries.filter((_, i) => i !== index),
    discards,
  );
  await discards.flush();
  const l1 = await readL1(file, gone.l1TableOffset, gone.l1Size);
  await file.write(gone.l1TableOffset, await updateReferences(file, h, refcounts, l1, -1, discards));
  await file.sync();
  if (gone.l1Size > 0) {
    const first = Math.floor(gone.l1TableOffset / cs);
    await refcounts.add(first, Math.floor((gone.l1TableOffset + gone.l1Size * 8 - 1) / cs) - first + 1, -1, discards.add);
  }
  await file.sync();
  await discards.flush();
  await setActiveCopiedFlags(file, h, refcounts, discards);
}

async function setActiveCopiedFlags(file: WritableStorage, h: Qcow2Header, refcounts: Refcounts, discards: Discards): Promise<void> {
  const l1 = await readL1(file, h.l1TableOffset, h.l1Size);
  const fixed = await updateReferences(file, h, refcounts, l1, 0, discards);
  await file.sync();
  await file.write(h.l1TableOffset, fixed);
  await file.sync();
}

/** qemu-img snapshot -a NAME (an id, else a name, as find_snapshot_by_id_or_name). */
export async function applySnapshot(file: WritableStorage, h: Qcow2Header, name: string): Promise<void> {
  refuseUnsupported(h);
  const snapshots = await readSnapshots(file, h);
  const target: Snapshot | undefined = snapshots.find((s) => s.id === name) ?? snapshots.find((s) => s.name === name);
  if (!target) throw new DiskImgError('not-found', 'Failed to load snapshot: No such file or directory', { value: name });
  if (target.diskSize !== undefined && target.diskSize !== h.sizeField)
    unsupported(
      `Snapshot '${name}' has another virtual size (${target.diskSize} bytes) than the image: applying it is not supported by diskimg yet`,
    );
  if (target.l1Size > h.l1Size)
    unsupported(`Snapshot '${name}' has a longer L1 table than the image: applying it is not supported by diskimg yet`);
  const cs = h.clusterSize;
  const refcounts = await Refcounts.load(file, h);
  const discards = new Discards(file, cs);
  await refuseFullRefcounts(file, h, refcounts, target.l1TableOffset, target.l1Size, 'Failed to load snapshot: Invalid argument');
  const current = await readL1(file, h.l1TableOffset, h.l1Size);
  const snapshotL1 = new Uint8Array(h.l1Size * 8);
  snapshotL1.set(await readL1(file, target.l1TableOffset, target.l1Size));
  // The snapshot's own table gets its COPIED flags redone too (none stays: all is shared now).
  const snapshotFlags = await updateReferences(file, h, refcounts, snapshotL1, 1, discards);
  await file.write(target.l1TableOffset, snapshotFlags.subarray(0, target.l1Size * 8));
  await file.sync();
  // The switch: the active L1 now holds the snapshot's tables.
  await file.write(h.l1TableOffset, snapshotL1);
  await file.sync();
  await updateReferences(file, h, refcounts, current, -1, discards);
  await file.sync();
  await discards.flush();
  await setActiveCopiedFlags(file, h, refcounts, discards);
}
