/** `qemu-img check`: each format checks itself; this is the part every format shares. */
import type { DiskImage } from './disk.ts';
import { DiskImgError } from './errors.ts';
import type { CheckResult, Layer } from './image.ts';

export type { CheckResult } from './image.ts';

/** Checks the image itself (not its backing files), as qemu-img check does. */
export async function checkImage(image: DiskImage): Promise<CheckResult> {
  const layer = image.layers[0];
  if (!layer.check)
    throw new DiskImgError('unsupported', 'This image format does not support checks', { file: layer.storage.name, value: layer.format });
  return layer.check();
}

/** qemu-img check --output=json: counters that are zero are left out, except check-errors. */
export function checkJson(result: CheckResult): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(result)) {
    if (key === 'messages' || key === 'leakedClusters') continue;
    if (typeof value === 'number' && value === 0 && key !== 'check-errors') continue;
    json[key] = value;
  }
  return json;
}

/** A layer's check result: the counters it found, every other one 0 (JSON leaves zeros out). */
export function checkResult(layer: Layer, found: Partial<CheckResult> = {}): CheckResult {
  return {
    filename: layer.storage.name,
    format: layer.format,
    'check-errors': 0,
    corruptions: 0,
    leaks: 0,
    'image-end-offset': 0,
    'total-clusters': 0,
    'allocated-clusters': 0,
    'fragmented-clusters': 0,
    'compressed-clusters': 0,
    messages: [],
    ...found,
  };
}
