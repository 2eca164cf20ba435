/**
 * The engine's one entry point for conversion: raw or qcow2 output, into a seekable sink or into
 * one that can only append (then qcow2 takes two passes; raw output is written whole).
 */
import type { DiskImage } from '../disk.ts';
import type { Sink } from '../sink.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import { DiskImgError } from '../errors.ts';
import { prepareEncryption, type EncryptRequest } from '../formats/qcow2/encryption.ts';
import { convertToRaw } from './convert.ts';
import { convertToQcow2, type Qcow2ConvertOptions } from './convert-qcow2.ts';
import { convertToQcow2Sequential } from './convert-qcow2-sequential.ts';
import { convertToStreamOptimizedVmdk } from '../formats/vmdk/write/convert.ts';
import type { StreamOptimizedSettings } from '../formats/vmdk/write/stream-optimized.ts';
import { convertToOva, type OvaConvertOptions } from '../formats/ova/write/convert.ts';

/** The formats conversion writes (qemu-img convert -O). */
export const OUTPUT_FORMATS = ['raw', 'qcow2'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Outputs with engines of their own, not yet in the page's list: the output table will take them in. */
export type StreamOutputFormat = 'vmdk' | 'ova';

export interface ConvertImageOptions extends Qcow2ConvertOptions {
  outputFormat: OutputFormat | StreamOutputFormat;
  /** -O vmdk: the streamOptimized writer's settings (parseVmdkOptions, plus a CID and the file's name). */
  vmdk?: StreamOptimizedSettings;
  /** -O ova: the machine (parseOvaOptions) and the name its files take when it has none. */
  ova?: Pick<OvaConvertOptions, 'ova' | 'defaultName'>;
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
  if (options.outputFormat === 'vmdk' || options.outputFormat === 'ova') {
    // The compressor must deflate VMDK grains (a pool started with the 'vmdk' codec).
    const { compressor, onProgress, signal, vmdk, ova } = options;
    if (options.outputFormat === 'ova') {
      if (!ova) throw new DiskImgError('usage', 'An OVA output needs its machine settings (cpus, memory, controller)', { field: 'ova' });
      await convertToOva(image, sink, { compressor, onProgress, signal, ...ova });
    } else {
      if (!vmdk) throw new DiskImgError('usage', 'A VMDK output needs its settings (adapter_type, hwversion, CID, file name)', { field: 'vmdk' });
      await convertToStreamOptimizedVmdk(image, sink, { compressor, onProgress, signal, settings: vmdk });
    }
    return;
  }
  if (options.outputFormat === 'raw') {
    if (options.encrypt) throw new DiskImgError('usage', "Encryption is only supported for the qcow2 output format", { field: 'encrypt.format' });
    return convertToRaw(image, sink, options);
  }
  if (options.encrypt) {
    if (options.compressor) throw new DiskImgError('usage', 'Compression and encryption not supported at the same time', { field: 'encrypt.format' });
    options = { ...options, qcow2: { ...options.qcow2, encryption: await prepareEncryption(options.encrypt, options.crypto) } };
  }
  if (isSeekable(sink)) await convertToQcow2(image, sink, options);
  else await convertToQcow2Sequential(image, sink, options);
}
