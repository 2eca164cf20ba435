/**
 * The page's "new virtual size" field: qemu-img's size syntax (20G, 512M, or bytes), read against
 * the disk's current size. The engine refuses a shrink below the data; this says what the field
 * holds before anything starts.
 */
import { parseSizeValue } from '../core/formats/output/driver.ts';

export type NewSize = { kind: 'none' } | { kind: 'invalid'; reason: 'syntax' | 'sector' } | { kind: 'grow' | 'shrink'; size: number };

/** Output formats the page resizes: those `qemu-img resize` changes as the page does. */
export const RESIZABLE_FORMATS: readonly string[] = ['qcow2', 'raw'];

export function readNewSize(text: string, current: number): NewSize {
  if (text.trim() === '') return { kind: 'none' };
  const size = parseSizeValue(text);
  if (size === undefined || size <= 0) return { kind: 'invalid', reason: 'syntax' };
  if (size % 512 !== 0) return { kind: 'invalid', reason: 'sector' };
  if (size === current) return { kind: 'none' };
  return { kind: size > current ? 'grow' : 'shrink', size };
}
