/** What qemu-img info says of a qcow2 layer beyond the common fields (qcow2_get_specific_info). */
import type { FormatFacts, SnapshotInfo } from '../../image.ts';
import { luksInfo } from '../../crypto/luks.ts';
import { parseBitmapDirectory, type BitmapEntry } from './extensions.ts';
import { COMPAT_LAZY_REFCOUNTS, AUTOCLEAR_DATA_FILE_RAW, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, hasIncompat } from './header.ts';
import type { Qcow2Layer } from './layer.ts';
import type { Snapshot } from './snapshots.ts';

export function snapshotInfo(snapshot: Snapshot): SnapshotInfo {
  const info: SnapshotInfo = {
    id: snapshot.id,
    name: snapshot.name,
    'vm-state-size': snapshot.vmStateSize,
    'date-sec': snapshot.dateSec,
    'date-nsec': snapshot.dateNsec,
    'vm-clock-sec': Math.floor(snapshot.vmClockNsec / 1e9),
    'vm-clock-nsec': snapshot.vmClockNsec % 1e9,
  };
  if (snapshot.icount !== -1) info.icount = snapshot.icount;
  return info;
}

export async function describeQcow2(layer: Qcow2Layer): Promise<FormatFacts> {
  const h = layer.header;
  const out: FormatFacts = { 'cluster-size': h.clusterSize, 'dirty-flag': hasIncompat(h, INCOMPAT_DIRTY) };
  if (layer.snapshots.length > 0) out.snapshots = layer.snapshots.map(snapshotInfo);
  if (layer.encryption) out.encrypted = true;
  const data: Record<string, unknown> = {};
  if (h.version === 2) {
    data.compat = '0.10';
    data['compression-type'] = h.compressionType;
    data['refcount-bits'] = 2 ** h.refcountOrder;
  } else {
    data.compat = '1.1';
    data['compression-type'] = h.compressionType;
    data['lazy-refcounts'] = (h.compatibleFeatures & BigInt(COMPAT_LAZY_REFCOUNTS)) !== 0n;
    const bitmaps = await readBitmaps(layer);
    if (bitmaps.length > 0) {
      data.bitmaps = bitmaps.map((b) => ({
        flags: [...(b.flags.inUse ? ['in-use'] : []), ...(b.flags.auto ? ['auto'] : [])],
        name: b.name,
        granularity: b.granularity,
      }));
    }
    data['refcount-bits'] = 2 ** h.refcountOrder;
    if (layer.dataFileName !== undefined) data['data-file'] = layer.dataFileName;
    if (layer.hasDataFile) data['data-file-raw'] = (h.autoclearFeatures & BigInt(AUTOCLEAR_DATA_FILE_RAW)) !== 0n;
    data.corrupt = hasIncompat(h, INCOMPAT_CORRUPT);
    data['extended-l2'] = h.extendedL2;
  }
  if (layer.encryption) data.encrypt = layer.encryptionInfo?.luks ? luksInfo(layer.encryptionInfo.luks) : { format: layer.encryption };
  out['format-specific'] = { type: 'qcow2', data };
  return out;
}

export async function readBitmaps(layer: Qcow2Layer): Promise<BitmapEntry[]> {
  const ext = layer.extensions.bitmaps;
  if (!ext) return [];
  const bytes = await layer.storage.read(ext.directoryOffset, ext.directorySize);
  return parseBitmapDirectory(bytes, ext.count);
}
