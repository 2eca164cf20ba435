/**
 * The engine's one entry point for conversion: raw or qcow2 output, into a seekable sink or into
 * one that can only append (then qcow2 takes two passes; raw output is written whole).
 */
import type { DiskImage } from '../disk.ts';
import type { Sink } from '../sink.ts';
import { convertToRaw } from './convert.ts';
import { convertToQcow2, type Qcow2ConvertOptions } from './convert-qcow2.ts';
import { convertToQcow2Sequential } from './convert-qcow2-sequential.ts';

export interface ConvertImageOptions extends Qcow2ConvertOptions {
  outputFormat: 'raw' | 'qcow2';
}

/** A sink that can set its size can also seek: that is the contract of Sink.truncate. */
export const isSeekable = (sink: Sink): boolean => sink.truncate !== undefined;

export async function convertImage(image: DiskImage, sink: Sink, options: ConvertImageOptions): Promise<void> {
  if (options.outputFormat === 'raw') return convertToRaw(image, sink, options);
  if (isSeekable(sink)) await convertToQcow2(image, sink, options);
  else await convertToQcow2Sequential(image, sink, options);
}
