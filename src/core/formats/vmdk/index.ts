/**
 * VMDK, VMware's disk format: the driver record (block/vmdk.c's vmdk_probe and vmdk_open).
 * Read: monolithicSparse, streamOptimized (grain directory in the header or in the footer),
 * monolithicFlat, twoGbMaxExtentSparse/Flat, vmfs, vmfsSparse (VMDK3 "COWD" extents), seSparse,
 * zeroed grains, snapshot children (parentFileNameHint, CID checked on reads).
 */
import type { FormatDriver } from '../driver.ts';
import { openVmdk } from './open.ts';
import { COWD, KDMV } from './sparse-header.ts';

export const vmdkDriver: FormatDriver = {
  name: 'vmdk',
  title:
    'VMware VMDK: monolithicSparse, streamOptimized, monolithicFlat, twoGbMaxExtentSparse/Flat, vmfs, vmfsSparse, seSparse; snapshot children',
  extensions: ['vmdk'],
  probe(head) {
    if (head.length < 4) return null;
    const magic = ((head[0] << 24) | (head[1] << 16) | (head[2] << 8) | head[3]) >>> 0;
    if (magic === KDMV || magic === COWD) return { score: 100 };
    return probeDescriptor(head) ? { score: 100 } : null;
  },
  open: (storage, context) => openVmdk(storage, context),
};

/**
 * vmdk_probe for a descriptor file: comment lines and blank lines (spaces only, maybe a CR) may
 * come first; the first other line must be "version=1", "=2" or "=3".
 */
function probeDescriptor(head: Uint8Array): boolean {
  let p = 0;
  const end = head.length;
  const at = (i: number) => String.fromCharCode(head[i]);
  const startsWith = (text: string) => p + text.length <= end && [...text].every((c, i) => at(p + i) === c);
  while (p < end) {
    if (at(p) === '#') {
      while (p < end && at(p) !== '\n') p++;
      p++;
      continue;
    }
    if (at(p) === ' ') {
      while (p < end && at(p) === ' ') p++;
      if (p < end && at(p) === '\r') p++;
      if (p === end || at(p) !== '\n') return false;
      p++;
      continue;
    }
    return ['1', '2', '3'].some((v) => startsWith(`version=${v}\n`) || startsWith(`version=${v}\r\n`));
  }
  return false;
}
