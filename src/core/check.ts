/** `qemu-img check`: each format checks itself; this is the part every format shares. */
import type { DiskImage } from './disk.ts';
import { DiskImgError } from './errors.ts';
import type { CheckResult } from './image.ts';

export type { CheckResult } from './image.ts';

/** Checks the image itself (not its backing files), as qemu-img check does. */
export async function checkImage(image: DiskImage): Promise<CheckResult> {
  const layer = image.layers[0];
  if (!layer.check) throw new DiskImgError('unsupported', 'This image format does not support checks', { file: layer.storage.name, value: layer.format });
  return layer.check();
}

/** qemu-img check --output=json: counters that are zero are left out, except check-errors. */
export function checkJson(result: CheckResult): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(result)) {
    if (key === 'messages') continue;
    if (typeof value === 'number' && value === 0 && key !== 'check-errors') continue;
    json[key] = value;
  }
  return json;
}
