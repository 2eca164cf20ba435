/**
 * qemu-img check of a QED image (qemu's block/qed-check.c): every table and data cluster lies in
 * the file and is referenced once; clusters nothing references are leaks.
 */
import { checkResult } from '../../check.ts';
import type { CheckResult } from '../../image.ts';
import { ZERO_CLUSTER, validClusterOffset, validTableOffset } from './header.ts';
import type { QedLayer } from './layer.ts';

export async function checkQed(layer: QedLayer): Promise<CheckResult> {
  const h = layer.header;
  const nclusters = Math.ceil(h.fileSize / h.clusterSize);
  const used = new Uint8Array(Math.ceil(nclusters / 8));
  const result = checkResult(layer, { 'total-clusters': Math.ceil(h.imageSize / h.clusterSize) });
  /** Marks n clusters from offset used; a cluster referenced twice is a corruption. */
  const markUsed = (offset: number, n: number): boolean => {
    let cluster = Math.floor(offset / h.clusterSize);
    let twice = 0;
    for (; n > 0; n--, cluster++) {
      const bit = 1 << (cluster & 7);
      if (used[cluster >>> 3] & bit) twice++;
      used[cluster >>> 3] |= bit;
    }
    result.corruptions += twice;
    return twice === 0;
  };

  markUsed(h.l1TableOffset, h.tableSize);
  for (let i = 0; i < h.tableEntries; i++) {
    const l2 = await layer.l1Entry(i);
    if (l2 === 0) continue;
    if (!validTableOffset(h, l2)) {
      result.corruptions++;
      continue;
    }
    if (!markUsed(l2, h.tableSize)) continue;
    let last = 0;
    for (let j = 0; j < h.tableEntries; j++) {
      const offset = await layer.l2Entry(l2, j);
      if (offset === 0 || offset === ZERO_CLUSTER) continue;
      result['allocated-clusters']++;
      if (last && last + h.clusterSize !== offset) result['fragmented-clusters']++;
      last = offset;
      if (!validClusterOffset(h, offset)) {
        result.corruptions++;
        continue;
      }
      markUsed(offset, 1);
    }
  }
  for (let i = h.headerSize; i < nclusters; i++) if (!(used[i >>> 3] & (1 << (i & 7)))) result.leaks++;
  return result;
}
