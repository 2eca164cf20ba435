/**
 * `qemu-img info` as data: the same fields, names and nesting (QAPI ImageInfo), so the CLI can
 * print qemu-img's JSON and human forms and the UI can show the same facts. The fields every
 * format has are filled here; each layer describes the rest itself.
 */
import type { DiskImage } from './disk.ts';
import type { Layer, SnapshotInfo } from './image.ts';
import { combinePath } from './paths.ts';

export type { SnapshotInfo } from './image.ts';

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

export function snapshotList(image: DiskImage, depth = 0): SnapshotInfo[] {
  return image.layers[depth].listSnapshots?.() ?? [];
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
  if (layer.describe) Object.assign(info, await layer.describe());
  return info;
}

export type { Layer };
