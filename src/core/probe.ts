/**
 * Format probing by content, as QEMU's bdrv_probe_all: every driver scores the first bytes and
 * the best score wins; raw scores 1, so it wins only when nothing else recognises the file.
 * Formats we recognise but cannot read yet get a clear refusal instead of being read as raw.
 */
import { DiskImgError } from './errors.ts';
import { DRIVERS, UNREAD_FORMATS, findDriver } from './formats/index.ts';
import type { Storage } from './storage/storage.ts';

export interface ProbeResult {
  format: string;
  score: number;
  /** What the content is, for a raw image whose bytes we recognise (e.g. an ISO 9660 filesystem). */
  content?: string;
  /** Set when we know the format but cannot open it yet: the reason, for the user. */
  unsupported?: string;
}

export async function probeFormat(storage: Storage): Promise<ProbeResult> {
  const head = await storage.read(0, 512);
  let best: ProbeResult = { format: 'raw', score: 1 };
  for (const driver of DRIVERS) {
    const result = await driver.probe?.(head, storage);
    if (!result || result.score <= 0) continue;
    if (result.score > best.score || (!best.content && result.content && result.score === best.score)) best = { format: driver.name, ...result };
  }
  if (best.score < 100) {
    const unread = UNREAD_FORMATS.find((format) => format.probe?.(head));
    if (unread) return { format: unread.name, score: 100, unsupported: `${unread.title} images are not supported yet; convert it with qemu-img first (qemu-img convert -O qcow2)` };
  }
  return best;
}

/** Checks a format named by the user (-f); unknown names get QEMU's message. */
export function checkFormatName(format: string): void {
  if (findDriver(format)) return;
  if (UNREAD_FORMATS.some((unread) => unread.name === format)) throw new DiskImgError('unsupported', `Format '${format}' is not supported yet`, { field: 'format', value: format });
  throw new DiskImgError('usage', `Unknown driver '${format}'`, { field: 'format', value: format });
}
