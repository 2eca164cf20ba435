/**
 * `qemu-img info` as data: the same fields, names and nesting (QAPI ImageInfo), so the CLI can
 * print qemu-img's JSON and human forms and the UI can show the same facts.
 */
import type { DiskImage } from './disk.ts';
import { parseBitmapDirectory, type BitmapEntry } from './formats/qcow2/extensions.ts';
import { COMPAT_LAZY_REFCOUNTS, AUTOCLEAR_DATA_FILE_RAW, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, hasIncompat } from './formats/qcow2/header.ts';
import { Qcow2Layer } from './formats/qcow2/layer.ts';
import type { Snapshot } from './formats/qcow2/snapshots.ts';
import type { Layer } from './image.ts';
import { combinePath } from './paths.ts';
import { luksInfo } from './crypto/luks.ts';

export interface SnapshotInfo {
  id: string;
  name: string;
  'vm-state-size': number;
  'date-sec': number;
  'date-nsec': number;
  'vm-clock-sec': number;
  'vm-clock-nsec': number;
  icount?: number;
}

export type QemuImageInfo = Record<string, unknown> & {
  'virtual-size': number;
  filename: string;
  format: string;
};

export interface InfoOptions {
  /** Which layer of the chain (0 = the image itself). */
  depth?: number;
  /** Bytes the file occupies on disk (qemu-img's "disk size"), where the platform can tell. */
  actualSize?: number;
}

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

export function snapshotList(image: DiskImage, depth = 0): SnapshotInfo[] {
  const layer = image.layers[depth];
  return layer instanceof Qcow2Layer ? layer.snapshots.map(snapshotInfo) : [];
}

export async function imageInfo(image: DiskImage, options: InfoOptions = {}): Promise<QemuImageInfo> {
  const layer = image.layers[options.depth ?? 0];
  const info: QemuImageInfo = { 'virtual-size': layer.virtualSize, filename: layer.storage.name, format: layer.format };
  if (options.actualSize !== undefined) info['actual-size'] = options.actualSize;
  info['dirty-flag'] = false;
  if (layer.backingFilename !== undefined) {
    info['backing-filename'] = layer.backingFilename;
    info['full-backing-filename'] = combinePath(layer.storage.name, layer.backingFilename);
    if (layer.backingFormat !== undefined) info['backing-filename-format'] = layer.backingFormat;
  }
  if (layer instanceof Qcow2Layer) Object.assign(info, await qcow2Info(layer));
  return info;
}

async function qcow2Info(layer: Qcow2Layer): Promise<Record<string, unknown>> {
  const h = layer.header;
  const out: Record<string, unknown> = { 'cluster-size': h.clusterSize, 'dirty-flag': hasIncompat(h, INCOMPAT_DIRTY) };
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
      data.bitmaps = bitmaps.map((b) => ({ flags: [...(b.flags.inUse ? ['in-use'] : []), ...(b.flags.auto ? ['auto'] : [])], name: b.name, granularity: b.granularity }));
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

export type { Layer };
