/**
 * The -o options the page offers for each output format, read from the formats' own tables (the
 * CLI parses the same ones): choices (enum, on/off) and whole numbers — not sizes, backing files
 * or options that make an output of several files, which a page saving one file cannot hold.
 */
import { outputDriver, type OutputFormat } from '../core/formats/outputs.ts';
import { OVA_OUTPUT_OPTIONS } from '../core/formats/ova/write/options.ts';
import type { PageFormat } from './destinations.ts';

export interface PageOption {
  key: string;
  kind: 'choice' | 'toggle' | 'number';
  /** For a choice: the values offered. */
  values?: readonly string[];
  /** What the format does without the option (qemu-img's default). */
  default: string;
  help: string;
}

/** A VMDK the page can save: one file (monolithicFlat and twoGbMaxExtent* are several). */
const ONE_FILE_VMDK = ['monolithicSparse', 'streamOptimized'];
/** Options the page leaves to qemu-img's default: sizes, backing files, rarely wanted knobs. */
const NOT_OFFERED = new Set(['size', 'backing_file', 'backing_fmt', 'log_size', 'block_size', 'toolsversion', 'hwversion', 'name']);

/** The options offered for a format other than raw and qcow2 (those have controls of their own). */
export function pageOptions(format: PageFormat): PageOption[] {
  if (format === 'ova') {
    return OVA_OUTPUT_OPTIONS.filter((o) => !NOT_OFFERED.has(o.key)).map((o) => ({
      key: o.key,
      kind: o.type === 'bool' ? 'toggle' : o.type === 'int' ? 'number' : 'choice',
      values: o.values,
      default: o.type === 'bool' ? (o.default ? 'on' : 'off') : String(o.default),
      help: o.help,
    }));
  }
  if (format === 'raw' || format === 'qcow2') return [];
  return outputDriver(format as OutputFormat)
    .options.filter((o) => !NOT_OFFERED.has(o.key) && (o.type === 'bool' || o.values !== undefined))
    .map((o) => ({
      key: o.key,
      kind: o.type === 'bool' ? 'toggle' : 'choice',
      values: o.key === 'subformat' && format === 'vmdk' ? ONE_FILE_VMDK : o.values,
      default: o.default ?? (o.values ? o.values[0] : 'off'),
      help: o.help,
    }));
}

/** The options that differ from the defaults, as -o takes them (the equivalent command, the job). */
export function changedOptions(format: PageFormat, values: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const option of pageOptions(format)) {
    const value = values[option.key];
    if (value !== undefined && value !== option.default) out[option.key] = value;
  }
  return out;
}
