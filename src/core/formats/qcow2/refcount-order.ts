/**
 * qemu-img amend -o refcount_bits=N: the refcount structures rewritten at another width, as
 * qcow2_change_refcount_order does it, so the file comes out as qemu-img's:
 * 1. walks over the old refcounts, group by group of the new width's refcount block, giving each
 *    group holding a nonzero refcount a new block (a cluster allocated, and counted, in the old
 *    structures), then the new reftable; again until a walk allocates nothing (the allocations
 *    are counted too);
 * 2. every new refblock written, then the new reftable, synced;
 * 3. the header switched to the new width and reftable (the one write that changes the image);
 * 4. the old refblocks and the old reftable freed, counted in the new structures.
 * A crash before 3 leaves the old structures in force with leaked clusters; after it, the new ones
 * with leaked clusters: `qemu-img check -r leaks` reclaims both. One refblock is in memory at a
 * time, and the new reftable (at most QEMU's 8 MiB).
 */
import { DiskImgError } from '../../errors.ts';
import type { WritableStorage } from '../../storage/writable.ts';
import type { Qcow2Header } from './header.ts';
import { MAX_REFTABLE_BYTES } from './header.ts';
import { rebuildHeader } from './header-update.ts';
import type { Extensions } from './extensions.ts';
import { Refcounts } from './refcounts.ts';
import { encodeRefcounts } from './write/writer.ts';

/** Whether every refcount of new-width group `group` (clusters [group × per, (group + 1) × per)) is 0; a missing old refblock is skipped whole. */
async function groupIsEmpty(old: Refcounts, group: number, per: number): Promise<boolean> {
  const first = group * per;
  const end = Math.min(first + per, old.tableEntries * old.perBlock);
  for (let cluster = first; cluster < end;) {
    const block = Math.floor(cluster / old.perBlock);
    const blockEnd = Math.min(end, (block + 1) * old.perBlock);
    if (old.blockOffset(block) === 0) {
      cluster = blockEnd;
      continue;
    }
    for (; cluster < blockEnd; cluster++) if ((await old.get(cluster)) !== 0) return false;
  }
  return true;
}

export async function changeRefcountOrder(file: WritableStorage, h: Qcow2Header, ext: Extensions, order: number): Promise<Qcow2Header> {
  const cs = h.clusterSize;
  const newBits = 2 ** order;
  const per = (cs * 8) / newBits;
  const old = await Refcounts.load(file, h);
  const total = old.tableEntries * old.perBlock;
  const groups = Math.ceil(total / per);
  // QEMU finds a refcount too wide for the new entries during its first walk, after some
  // allocations; diskimg looks first, so a refused image is left untouched.
  if (newBits < 64) {
    for (let block = 0; block < old.tableEntries; block++) {
      if (old.blockOffset(block) === 0) continue;
      for (let cluster = block * old.perBlock; cluster < (block + 1) * old.perBlock; cluster++) {
        const refcount = await old.get(cluster);
        if (refcount >= 2 ** newBits)
          throw new DiskImgError(
            'usage',
            `Cannot decrease refcount entry width to ${newBits} bits: Cluster at offset 0x${(cluster * cs).toString(16)} has a refcount of ${refcount}`,
            { field: 'refcount_bits', offset: cluster * cs },
          );
      }
    }
  }

  // 1. Allocation walks.
  const entriesPerCluster = cs / 8;
  let table: number[] = [];
  let tableOffset = 0;
  let tableClusters = 0;
  for (;;) {
    let allocated = false;
    for (let group = 0; group < groups; group++) {
      if (await groupIsEmpty(old, group, per)) continue;
      if (group >= table.length) {
        const size = Math.ceil((group + 1) / entriesPerCluster) * entriesPerCluster;
        if (size * 8 > MAX_REFTABLE_BYTES)
          throw new DiskImgError(
            'limit',
            'This operation would make the refcount table grow beyond the maximum size supported by QEMU, aborting',
            { field: 'refcount_bits' },
          );
        table = [...table, ...new Array<number>(size - table.length).fill(0)];
      }
      if (table[group] === 0) {
        const cluster = await old.allocate(1);
        await old.add(cluster, 1, 1);
        table[group] = cluster * cs;
        allocated = true;
      }
    }
    if (!allocated) break;
    if (tableOffset !== 0) await old.add(tableOffset / cs, tableClusters, -1);
    tableClusters = Math.ceil((table.length * 8) / cs);
    tableOffset = (await old.allocate(tableClusters)) * cs;
    await old.add(tableOffset / cs, tableClusters, 1);
  }
  await file.sync();

  // 2. The new refblocks, then the new reftable.
  const counts = new Uint32Array(per);
  for (let group = 0; group < table.length; group++) {
    if (table[group] === 0) continue;
    counts.fill(0);
    for (let i = 0; i < per && group * per + i < total; i++) counts[i] = await old.get(group * per + i);
    await file.write(table[group], encodeRefcounts(counts, newBits, cs));
  }
  const tableBytes = new Uint8Array(table.length * 8);
  const view = new DataView(tableBytes.buffer);
  table.forEach((offset, i) => view.setBigUint64(i * 8, BigInt(offset)));
  await file.write(tableOffset, tableBytes);
  await file.sync();

  // 3. The switch.
  const cluster0 = await file.read(0, cs);
  const header = rebuildHeader(cluster0, h, ext, {
    refcountOrder: order,
    refcountTable: { offset: tableOffset, clusters: tableClusters },
  });
  await file.write(0, header);
  await file.sync();
  const next: Qcow2Header = { ...h, refcountOrder: order, refcountTableOffset: tableOffset, refcountTableClusters: tableClusters };

  // 4. The old structures freed, in the new ones.
  const fresh = await Refcounts.load(file, next);
  for (let block = 0; block < old.tableEntries; block++) {
    const offset = old.blockOffset(block);
    if (offset !== 0) await fresh.add(offset / cs, 1, -1);
  }
  await fresh.add(h.refcountTableOffset / cs, Math.ceil((old.tableEntries * 8) / cs), -1);
  await file.sync();
  return next;
}
