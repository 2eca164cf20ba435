/**
 * qemu-img's -o options for a VMDK output, as data (key as qemu-img spells it, type, default,
 * allowed values, its help line), and their checks with qemu-img's messages. diskimg writes the
 * streamOptimized subformat; the other subformats are named so they are recognised, and refused.
 */
import type { StreamOptimizedSettings } from './stream-optimized.ts';

export interface OutputOptionSpec {
  key: string;
  type: 'enum' | 'bool' | 'string' | 'int';
  default: string | boolean | number;
  values?: readonly string[];
  help: string;
}

export const VMDK_SUBFORMATS = [
  'monolithicSparse',
  'monolithicFlat',
  'twoGbMaxExtentSparse',
  'twoGbMaxExtentFlat',
  'streamOptimized',
] as const;
export const VMDK_ADAPTER_TYPES = ['ide', 'buslogic', 'lsilogic', 'legacyESX'] as const;
/** ddb.toolsVersion when none is given: INT32_MAX, as qemu-img 7.2 writes it. */
const DEFAULT_TOOLS_VERSION = '2147483647';

/** In `qemu-img create -f vmdk -o help` order; backing_file, backing_fmt and size left out. */
export const VMDK_OUTPUT_OPTIONS: readonly OutputOptionSpec[] = [
  {
    key: 'adapter_type',
    type: 'enum',
    default: 'ide',
    values: VMDK_ADAPTER_TYPES,
    help: 'Virtual adapter type, can be one of ide (default), lsilogic, buslogic or legacyESX',
  },
  { key: 'compat6', type: 'bool', default: false, help: 'VMDK version 6 image' },
  { key: 'hwversion', type: 'string', default: 'undefined', help: 'VMDK hardware version' },
  {
    key: 'subformat',
    type: 'enum',
    default: 'monolithicSparse',
    values: VMDK_SUBFORMATS,
    help: 'VMDK flat extent format, can be one of {monolithicSparse (default) | monolithicFlat | twoGbMaxExtentSparse | twoGbMaxExtentFlat | streamOptimized} ',
  },
  { key: 'toolsversion', type: 'string', default: DEFAULT_TOOLS_VERSION, help: 'VMware guest tools version' },
  { key: 'zeroed_grain', type: 'bool', default: false, help: 'Enable efficient zero writes using the zeroed-grain GTE feature' },
];

/** QEMU's boolean spellings (qapi_bool_parse). */
export function parseOnOff(key: string, value: string): boolean | { error: string } {
  if (['on', 'yes', 'true', 'y'].includes(value)) return true;
  if (['off', 'no', 'false', 'n'].includes(value)) return false;
  return { error: `Parameter '${key}' expects 'on' or 'off'` };
}

export type VmdkOptionsResult =
  | { settings: Omit<StreamOptimizedSettings, 'cid' | 'extentName'> }
  /** createError: qemu-img reports it as "TARGET: error while converting vmdk: …" (the driver's create failed). */
  | { error: string; createError: boolean };

/** -o key=value pairs → the writer's settings, or qemu-img's message for the first bad one. */
export function parseVmdkOptions(options: ReadonlyMap<string, string>): VmdkOptionsResult {
  const known = new Set(VMDK_OUTPUT_OPTIONS.map((option) => option.key));
  for (const key of options.keys()) {
    if (key === 'backing_file' || key === 'backing_fmt')
      return { error: `-o ${key}: diskimg does not write VMDK images with a backing file`, createError: false };
    if (!known.has(key)) return { error: `Invalid parameter '${key}'`, createError: false };
  }
  const flags: Record<string, boolean> = {};
  for (const key of ['compat6', 'zeroed_grain']) {
    const value = options.get(key);
    const parsed = value === undefined ? false : parseOnOff(key, value);
    if (typeof parsed !== 'boolean') return { ...parsed, createError: false };
    flags[key] = parsed;
  }
  const adapterType = options.get('adapter_type') ?? 'ide';
  if (!(VMDK_ADAPTER_TYPES as readonly string[]).includes(adapterType))
    return { error: `invalid parameter value: ${adapterType}`, createError: true };
  const subformat = options.get('subformat') ?? 'monolithicSparse';
  if (!(VMDK_SUBFORMATS as readonly string[]).includes(subformat))
    return { error: `invalid parameter value: ${subformat}`, createError: true };
  let hwVersion = options.get('hwversion');
  if (hwVersion === 'undefined') hwVersion = undefined;
  if (flags.compat6) {
    if (hwVersion !== undefined) return { error: 'compat6 cannot be enabled with hwversion set', createError: true };
    hwVersion = '6';
  }
  if (subformat !== 'streamOptimized')
    return { error: `subformat=${subformat}: diskimg writes VMDK only as subformat=streamOptimized so far`, createError: false };
  return {
    settings: {
      adapterType,
      hwVersion: hwVersion ?? '4',
      toolsVersion: options.get('toolsversion') ?? DEFAULT_TOOLS_VERSION,
      zeroedGrain: flags.zeroed_grain,
    },
  };
}
