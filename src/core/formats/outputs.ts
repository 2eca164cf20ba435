/**
 * The formats conversion writes, as data: each with qemu-img's name, its -o options as qemu-img
 * lists them (`qemu-img create -f FMT -o help`), and, for formats written through the generic
 * writer path (pipeline/convert-output.ts), how to check those options and make the writer.
 * OUTPUT_FORMATS, the CLI's -o parser and its --help read this table.
 */
import { DiskImgError } from '../errors.ts';
import type { OutputDriver, OutputOption, OutputOptionValues } from './output/driver.ts';
import { checkVdiSize, VdiWriter, type VdiWriteOptions } from './vdi/write.ts';
import { resolveVhdxOptions, VhdxWriter, type VhdxWriteOptions } from './vhdx/write.ts';
import {
  vmdkCompanions,
  resolveVmdkOptions,
  VMDK_ADAPTER_TYPES,
  VMDK_SUBFORMAT_WRITERS,
  VMDK_SUBFORMATS,
  type VmdkWriteOptions,
} from './vmdk/write-sparse.ts';
import { VpcWriter, vpcSize, type VpcWriteOptions } from './vpc/write.ts';

const BOOL = 'bool' as const;

export const rawOutput: OutputDriver<never, 'raw'> = {
  name: 'raw',
  title: 'Raw disk image',
  extension: 'img',
  options: [{ key: 'size', type: 'size', help: 'Virtual disk size' }],
  compression: false,
};

/** qcow2's -o options (the CLI's qcow2-options.ts checks them; the qcow2 pipeline writes them). */
export const QCOW2_OPTIONS: readonly OutputOption[] = [
  { key: 'backing_file', type: 'string', help: 'File name of a base image' },
  { key: 'backing_fmt', type: 'string', help: 'Image format of the base image' },
  { key: 'cluster_size', type: 'size', default: '65536', help: 'qcow2 cluster size' },
  { key: 'compat', type: 'enum', default: '1.1', values: ['0.10', 'v2', '1.1', 'v3'], help: 'Compatibility level (v2 [0.10] or v3 [1.1])' },
  {
    key: 'compression_type',
    type: 'enum',
    default: 'zlib',
    values: ['zlib', 'zstd'],
    help: 'Compression method used for image cluster compression',
  },
  { key: 'extended_l2', type: BOOL, default: 'off', help: 'Extended L2 tables (diskimg writes off only)' },
  { key: 'lazy_refcounts', type: BOOL, default: 'off', help: 'Postpone refcount updates' },
  {
    key: 'preallocation',
    type: 'enum',
    default: 'off',
    values: ['off', 'metadata'],
    help: 'Preallocation mode (diskimg writes off and metadata)',
  },
  { key: 'refcount_bits', type: 'number', default: '16', help: 'Width of a reference count entry in bits' },
  { key: 'size', type: 'size', help: 'Virtual disk size' },
];

export const qcow2Output: OutputDriver<never, 'qcow2'> = {
  name: 'qcow2',
  title: 'QEMU copy-on-write v2/v3',
  extension: 'qcow2',
  options: QCOW2_OPTIONS,
  compression: true,
};

export const vpcOutput: OutputDriver<VpcWriteOptions, 'vpc'> = {
  name: 'vpc',
  title: 'Virtual Hard Disk (VHD), for Hyper-V, Azure and Virtual PC',
  extension: 'vhd',
  options: [
    {
      key: 'force_size',
      type: BOOL,
      default: 'off',
      help: 'Force disk size calculation to use the actual size specified, rather than using the nearest CHS-based calculation',
    },
    { key: 'size', type: 'size', help: 'Virtual disk size' },
    {
      key: 'subformat',
      type: 'enum',
      default: 'dynamic',
      values: ['dynamic', 'fixed'],
      help: 'Type of virtual hard disk format. Supported formats are {dynamic (default) | fixed}',
    },
  ],
  compression: false,
  resolve(values: OutputOptionValues, virtualSize: number): VpcWriteOptions {
    const options: VpcWriteOptions = {
      subformat: (values.get('subformat') as VpcWriteOptions['subformat']) ?? 'dynamic',
      forceSize: values.get('force_size') === true,
    };
    vpcSize(virtualSize, options.forceSize);
    return options;
  },
  create: (host, virtualSize, options) => VpcWriter.create(host, virtualSize, options),
};

export const vdiOutput: OutputDriver<VdiWriteOptions, 'vdi'> = {
  name: 'vdi',
  title: 'VirtualBox Disk Image (VDI)',
  extension: 'vdi',
  options: [
    { key: 'size', type: 'size', help: 'Virtual disk size' },
    { key: 'static', type: BOOL, default: 'off', help: 'VDI static (pre-allocated) image' },
  ],
  compression: false,
  resolve(values, virtualSize) {
    checkVdiSize(virtualSize);
    return { static: values.get('static') === true };
  },
  create: (host, virtualSize, options) => VdiWriter.create(host, virtualSize, options),
};

export const vhdxOutput: OutputDriver<VhdxWriteOptions, 'vhdx'> = {
  name: 'vhdx',
  title: 'Hyper-V virtual hard disk (VHDX)',
  extension: 'vhdx',
  options: [
    { key: 'block_size', type: 'size', default: '0', help: 'Block Size; min 1MB, max 256MB. 0 means auto-calculate based on image size.' },
    {
      key: 'block_state_zero',
      type: BOOL,
      default: 'on',
      help: "Force use of payload blocks of type 'ZERO'. Non-standard, but default.  Do not set to 'off' when using 'qemu-img convert' with subformat=dynamic.",
    },
    { key: 'log_size', type: 'size', default: '1048576', help: 'Log size; min 1MB.' },
    { key: 'size', type: 'size', help: 'Virtual disk size; max of 64TB.' },
    {
      key: 'subformat',
      type: 'enum',
      default: 'dynamic',
      values: ['dynamic', 'fixed'],
      help: "VHDX format type, can be either 'dynamic' or 'fixed'. Default is 'dynamic'.",
    },
  ],
  compression: false,
  resolve: (values, virtualSize) =>
    resolveVhdxOptions(virtualSize, {
      subformat: (values.get('subformat') as VhdxWriteOptions['subformat']) ?? 'dynamic',
      blockSize: (values.get('block_size') as number | undefined) ?? 0,
      logSize: (values.get('log_size') as number | undefined) ?? 1024 * 1024,
      blockStateZero: values.get('block_state_zero') !== false,
    }),
  create: (host, virtualSize, options) => VhdxWriter.create(host, virtualSize, options),
};

export const vmdkOutput: OutputDriver<VmdkWriteOptions, 'vmdk'> = {
  name: 'vmdk',
  title: 'VMware virtual disk (VMDK)',
  extension: 'vmdk',
  options: [
    {
      key: 'adapter_type',
      type: 'string',
      default: 'ide',
      values: VMDK_ADAPTER_TYPES,
      help: 'Virtual adapter type, can be one of ide (default), lsilogic, buslogic or legacyESX',
    },
    { key: 'backing_file', type: 'string', help: 'File name of a base image' },
    { key: 'backing_fmt', type: 'string', help: "Must be 'vmdk' if present" },
    { key: 'compat6', type: BOOL, default: 'off', help: 'VMDK version 6 image' },
    { key: 'hwversion', type: 'string', default: '4', help: 'VMDK hardware version' },
    { key: 'size', type: 'size', help: 'Virtual disk size' },
    {
      key: 'subformat',
      type: 'string',
      default: 'monolithicSparse',
      values: VMDK_SUBFORMATS,
      help: 'VMDK flat extent format, can be one of {monolithicSparse (default) | monolithicFlat | twoGbMaxExtentSparse | twoGbMaxExtentFlat | streamOptimized}',
    },
    { key: 'toolsversion', type: 'string', default: '2147483647', help: 'VMware guest tools version' },
    { key: 'zeroed_grain', type: BOOL, default: 'off', help: 'Enable efficient zero writes using the zeroed-grain GTE feature' },
  ],
  compression: false,
  resolve: (values, virtualSize, context) => resolveVmdkOptions(values, context?.fileName ?? 'disk.vmdk', virtualSize),
  companions: (options) => vmdkCompanions(options, options.size),
  // resolve refuses the subformats VMDK_SUBFORMAT_WRITERS lacks.
  create: (host, virtualSize, options, companions) => VMDK_SUBFORMAT_WRITERS[options.subformat]!(host, virtualSize, options, companions),
};

/** Every format conversion can write, in the order the CLI's help and the page list them. */
export const OUTPUT_DRIVERS = [rawOutput, qcow2Output, vmdkOutput, vpcOutput, vdiOutput, vhdxOutput] as const;

export type OutputFormat = (typeof OUTPUT_DRIVERS)[number]['name'];

/** The formats conversion writes (qemu-img convert -O). */
export const OUTPUT_FORMATS: readonly OutputFormat[] = OUTPUT_DRIVERS.map((d) => d.name);

export function outputDriver(name: string): OutputDriver<unknown> {
  const driver = (OUTPUT_DRIVERS as readonly OutputDriver<never>[]).find((d) => d.name === name) as OutputDriver<unknown> | undefined;
  if (!driver) throw new DiskImgError('usage', `Unknown file format '${name}'`, { field: 'format', value: name });
  return driver;
}
