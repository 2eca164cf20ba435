/**
 * qemu-img check -r leaks for qcow2 (qcow2-refcount.c compare_refcounts with BDRV_FIX_LEAKS):
 * each leaked cluster's refcount is lowered to the references the check counted, and a cluster
 * left with none is zeroed, as QEMU discards it. Lowering a refcount that is too high is safe at
 * any point: a crash mid-way leaves fewer leaks, never a cluster in use with too low a count.
 */
import type { LeakedCluster } from '../../image.ts';
import type { WritableStorage } from '../../storage/writable.ts';
import type { Qcow2Header } from './header.ts';
import { Refcounts } from './refcounts.ts';

export async function repairLeaks(file: WritableStorage, h: Qcow2Header, leaks: readonly LeakedCluster[]): Promise<void> {
  const refcounts = await Refcounts.load(file, h);
  const freed: number[] = [];
  for (const leak of leaks) {
    await refcounts.set(leak.cluster, leak.reference);
    if (leak.reference === 0) freed.push(leak.cluster);
  }
  await file.sync();
  const zeros = new Uint8Array(h.clusterSize);
  const length = await file.length();
  for (const cluster of freed) {
    const offset = cluster * h.clusterSize;
    if (offset < length) await file.write(offset, zeros.subarray(0, Math.min(h.clusterSize, length - offset)));
  }
  await file.sync();
}
