/** Numbers as people read them, in the page's language: binary units, three significant digits. */
import { locale } from './i18n/locale.svelte.ts';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** "48.8 MiB" in English, "48,8 MiB" in Vietnamese (read inside a template, it follows a language switch). */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 ? { maximumFractionDigits: 0 } : { maximumSignificantDigits: 3 };
  return `${value.toLocaleString(locale.lang, digits)} ${UNITS[unit]}`;
}

/** A number with exactly `fraction` decimals, in the page's language ("37.34" / "37,34"). */
export function formatFixed(value: number, fraction: number): string {
  return value.toLocaleString(locale.lang, { minimumFractionDigits: fraction, maximumFractionDigits: fraction });
}
