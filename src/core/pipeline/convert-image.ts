/**
 * The engine's one entry point for conversion: any output format of formats/outputs.ts, into a
 * seekable sink or into one that can only append (then qcow2 and the writer formats take two
 * passes; raw output is written whole).
 */
import type { DiskImage } from '../disk.ts';
import type { Sink } from '../sink.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import { DiskImgError } from '../errors.ts';
import { prepareEncryption, type EncryptRequest } from '../formats/qcow2/encryption.ts';
import { convertToRaw } from './convert.ts';
import { convertToQcow2, type Qcow2ConvertOptions } from './convert-qcow2.ts';
import { convertToQcow2Sequential } from './convert-qcow2-sequential.ts';
import { outputDriver, type OutputFormat } from '../formats/outputs.ts';
import { parseOutputOptions, resolveOutputOptions } from '../formats/output/driver.ts';
import { convertToOutput } from './convert-output.ts';
import { convertToStreamOptimizedVmdk } from '../formats/vmdk/write/convert.ts';
import type { StreamOptimizedSettings } from '../formats/vmdk/write/stream-optimized.ts';
import { convertToOva, type OvaConvertOptions } from '../formats/ova/write/convert.ts';

export { OUTPUT_FORMATS, type OutputFormat } from '../formats/outputs.ts';

/** Outputs with engines of their own, not yet in the page's list: the output table will take them in. */
export type StreamOutputFormat = 'vmdk' | 'ova';

export interface ConvertImageOptions extends Qcow2ConvertOptions {
  outputFormat: OutputFormat | StreamOutputFormat;
  /** -O vmdk: the streamOptimized writer's settings (parseVmdkOptions, plus a CID and the file's name). */
  vmdk?: StreamOptimizedSettings;
  /** -O ova: the machine (parseOvaOptions) and the name its files take when it has none. */
  ova?: Pick<OvaConvertOptions, 'ova' | 'defaultName'>;
  /**
   * For formats other than raw and qcow2: their -o options as given (key as qemu-img spells it →
   * value), checked against the format's option table.
   */
  formatOptions?: ReadonlyMap<string, string>;
  /** The output file's base name, for formats that write it into the file (a VMDK's descriptor). */
  outputFileName?: string;
  /** Seekable sinks for the other files the output consists of (outputCompanions names them). */
  companionSinks?: Sink[];
  /**
   * VMDK, VHD, VDI, VHDX: make the disk this large (at least the source's size; the rest reads as
   * zeros), e.g. azureVhdSize for Azure's whole-MiB fixed VHD.
   */
  targetSize?: number;
  /**
   * Encrypt the qcow2 output with LUKS under this passphrase (qemu-img's -o encrypt.format=luks
   * and friends; defaults aes-256-xts-plain64, sha256, 2000 ms of PBKDF2).
   */
  encrypt?: EncryptRequest;
  /** Faster PBKDF2 and AES than the portable ones (Node's native crypto in the CLI). */
  crypto?: CryptoProvider;
}

/** A sink that can set its size can also seek: that is the contract of Sink.truncate. */
export const isSeekable = (sink: Sink): boolean => sink.truncate !== undefined;

export async function convertImage(image: DiskImage, sink: Sink, options: ConvertImageOptions): Promise<void> {
  // An OVA, and a streamOptimized VMDK (its settings given), have writers of their own: deflated
  // grains (the compressor a pool started with the 'vmdk' codec), markers, a tar around it.
  if (options.outputFormat === 'ova' || (options.outputFormat === 'vmdk' && options.vmdk)) {
    const { compressor, onProgress, signal, vmdk, ova } = options;
    if (options.outputFormat === 'ova') {
      if (!ova) throw new DiskImgError('usage', 'An OVA output needs its machine settings (cpus, memory, controller)', { field: 'ova' });
      await convertToOva(image, sink, { compressor, onProgress, signal, ...ova });
    } else await convertToStreamOptimizedVmdk(image, sink, { compressor, onProgress, signal, settings: vmdk! });
    return;
  }
  if (options.outputFormat === 'raw') {
    if (options.encrypt)
      throw new DiskImgError('usage', 'Encryption is only supported for the qcow2 output format', { field: 'encrypt.format' });
    return convertToRaw(image, sink, options);
  }
  if (options.outputFormat !== 'qcow2') return convertThroughWriter(image, sink, options);
  if (options.encrypt) {
    if (options.compressor)
      throw new DiskImgError('usage', 'Compression and encryption not supported at the same time', { field: 'encrypt.format' });
    options = { ...options, qcow2: { ...options.qcow2, encryption: await prepareEncryption(options.encrypt, options.crypto) } };
  }
  if (isSeekable(sink)) await convertToQcow2(image, sink, options);
  else await convertToQcow2Sequential(image, sink, options);
}

/** A format written through its GuestWriter (formats/outputs.ts): VHD, VDI, … */
async function convertThroughWriter(image: DiskImage, sink: Sink, options: ConvertImageOptions): Promise<void> {
  const driver = outputDriver(options.outputFormat);
  if (options.encrypt)
    throw new DiskImgError('usage', 'Encryption is only supported for the qcow2 output format', { field: 'encrypt.format' });
  if (options.compressor && !driver.compression)
    throw new DiskImgError('usage', 'Compression not supported for this file format', { field: 'compress' });
  const values = parseOutputOptions(driver, options.formatOptions ?? new Map());
  const size = Math.max(Math.ceil(image.virtualSize / 512) * 512, options.targetSize ?? 0);
  if (size % 512 !== 0)
    throw new DiskImgError('usage', `The output's size must be a whole number of 512-byte sectors (${size} is not)`, {
      field: 'size',
      value: size,
    });
  const resolved = resolveOutputOptions(driver, values, size, { fileName: options.outputFileName });
  await convertToOutput(image, sink, driver, resolved, options, options.companionSinks, size);
}

/**
 * The other files an output of these options consists of, by base name, to be made beside it (a
 * monolithicFlat VMDK's flat extent); throws the options' errors as convertImage would.
 */
export function outputCompanions(
  format: OutputFormat,
  formatOptions: ReadonlyMap<string, string>,
  virtualSize: number,
  fileName: string,
): string[] {
  if (format === 'raw' || format === 'qcow2') return [];
  const driver = outputDriver(format);
  const resolved = resolveOutputOptions(driver, parseOutputOptions(driver, formatOptions), Math.ceil(virtualSize / 512) * 512, {
    fileName,
  });
  return driver.companions?.(resolved) ?? [];
}
