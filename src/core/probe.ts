/**
 * Format probing by content, as QEMU's bdrv_probe_all: every driver scores the first bytes and
 * the best score wins; raw scores 1, so it wins only when nothing else recognises the file.
 */
import { DiskImgError } from './errors.ts';
import { DRIVERS, findDriver } from './formats/index.ts';
import type { Storage } from './storage/storage.ts';

export interface ProbeResult {
  format: string;
  score: number;
  /** What the content is, for a raw image whose bytes we recognise (e.g. an ISO 9660 filesystem). */
  content?: string;
}

export async function probeFormat(storage: Storage): Promise<ProbeResult> {
  const head = await storage.read(0, 512);
  let best: ProbeResult = { format: 'raw', score: 1 };
  for (const driver of DRIVERS) {
    const result = await driver.probe?.(head, storage);
    if (!result || result.score <= 0) continue;
    if (result.score > best.score || (!best.content && result.content && result.score === best.score))
      best = { format: driver.name, ...result };
  }
  return best;
}

/** Checks a format named by the user (-f); unknown names get QEMU's message. */
export function checkFormatName(format: string): void {
  if (findDriver(format)) return;
  throw new DiskImgError('usage', `Unknown driver '${format}'`, { field: 'format', value: format });
}
