/**
 * The -o options of diskimg's OVA output (qemu-img has no OVA driver: these are ours), as data,
 * and their checks. The disk inside is a streamOptimized VMDK; its adapter follows the controller.
 */
import type { OutputOptionSpec } from '../../vmdk/write/options.ts';
import { parseOnOff } from '../../vmdk/write/options.ts';
import type { OvaController } from './ovf-envelope.ts';

export const OVA_CONTROLLERS = ['scsi', 'sata', 'ide'] as const;
/** VirtualBox and VMware's limits are far below these; they only keep the numbers sane. */
const MAX_CPUS = 768;
const MAX_MEMORY_MIB = 24 * 1024 * 1024;

export const OVA_OUTPUT_OPTIONS: readonly OutputOptionSpec[] = [
  { key: 'cpus', type: 'int', default: 1, help: 'Number of virtual CPUs of the virtual machine' },
  { key: 'memory', type: 'int', default: 1024, help: 'Memory of the virtual machine, in MiB' },
  { key: 'name', type: 'string', default: '', help: "The virtual machine's name (default: the output file's name without .ova)" },
  {
    key: 'controller',
    type: 'enum',
    default: 'scsi',
    values: OVA_CONTROLLERS,
    help: 'The disk controller: scsi (LSI Logic, default), sata (AHCI) or ide',
  },
  { key: 'manifest', type: 'bool', default: true, help: 'Add a .mf manifest with the SHA256 digests of the .ovf and the disk' },
];

export interface OvaSettings {
  name?: string;
  cpus: number;
  memory: number;
  controller: OvaController;
  manifest: boolean;
}

function positiveInteger(key: string, value: string, max: number): number | { error: string } {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max)
    return { error: `Parameter '${key}' expects a whole number from 1 to ${max}, not '${value}'` };
  return Number(value);
}

export function parseOvaOptions(options: ReadonlyMap<string, string>): { settings: OvaSettings } | { error: string } {
  const known = new Set(OVA_OUTPUT_OPTIONS.map((option) => option.key));
  for (const key of options.keys()) if (!known.has(key)) return { error: `Invalid parameter '${key}'` };
  const cpus = positiveInteger('cpus', options.get('cpus') ?? '1', MAX_CPUS);
  if (typeof cpus !== 'number') return cpus;
  const memory = positiveInteger('memory', options.get('memory') ?? '1024', MAX_MEMORY_MIB);
  if (typeof memory !== 'number') return memory;
  const controller = options.get('controller') ?? 'scsi';
  if (!(OVA_CONTROLLERS as readonly string[]).includes(controller))
    return { error: `Parameter 'controller' expects scsi, sata or ide, not '${controller}'` };
  const manifest = parseOnOff('manifest', options.get('manifest') ?? 'on');
  if (typeof manifest !== 'boolean') return manifest;
  const name = options.get('name');
  if (name !== undefined && name.trim() === '') return { error: "Parameter 'name' must not be empty" };
  return { settings: { name, cpus, memory, controller: controller as OvaController, manifest } };
}
