/**
 * qemu-img check of a VMDK (vmdk_co_check): every grain's offset is looked up, and one that
 * cannot be, or that points past the end of its extent file, stops the check with one corruption.
 * QEMU keeps no other counters for VMDK.
 */
import { checkResult } from '../../check.ts';
import { isDiskImgError } from '../../errors.ts';
import type { CheckResult } from '../../image.ts';
import type { VmdkLayer } from './layer.ts';

export async function checkVmdk(layer: VmdkLayer): Promise<CheckResult> {
  const result = checkResult(layer);
  const problem = await firstProblem(layer);
  if (problem) {
    result.corruptions = 1;
    result.messages.push(problem);
  }
  return result;
}

async function firstProblem(layer: VmdkLayer): Promise<string | undefined> {
  for (const extent of layer.extents) {
    const sector = (byte: number) => Math.floor(byte / 512);
    if (extent.flat) {
      if (extent.flatOffset >= extent.storage.size) return `ERROR: cluster offset for sector ${sector(extent.start)} points after EOF`;
      continue;
    }
    for (let rel = 0; rel < extent.length;) {
      const tableIndex = Math.floor(rel / extent.tableCoverage);
      if (tableIndex < extent.gdEntries && extent.gdEntry(tableIndex) === 0) {
        rel = (tableIndex + 1) * extent.tableCoverage;
        continue;
      }
      let status;
      try {
        status = await extent.grain(rel);
      } catch (error) {
        if (isDiskImgError(error)) return `ERROR: could not get cluster_offset for sector ${sector(extent.start + rel)}`;
        throw error;
      }
      if (status.kind === 'data' && status.hostOffset >= extent.storage.size)
        return `ERROR: cluster offset for sector ${sector(extent.start + rel)} points after EOF`;
      rel += extent.grainBytes;
    }
  }
  return undefined;
}
