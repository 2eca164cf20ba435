/**
 * convert -O vmdk (subformat=streamOptimized, qemu-img's -o options and messages) and -O ova
 * (ours: qemu-img has no OVA output; -o cpus, memory, name, controller, manifest).
 */
import { basename } from 'node:path';
import { inlineCompressor, type ClusterCompressor } from '../../core/codecs/compress.ts';
import { DiskImgError } from '../../core/errors.ts';
import { parseOvaOptions, type OvaSettings } from '../../core/formats/ova/write/options.ts';
import { vmdkGrainDeflater } from '../../core/formats/vmdk/write/grain-deflate.ts';
import { convertImage } from '../../core/pipeline/convert-image.ts';
import { parseVmdkOptions } from '../../core/formats/vmdk/write/options.ts';
import { GRAIN_SIZE, type StreamOptimizedSettings } from '../../core/formats/vmdk/write/stream-optimized.ts';
import { NodeCompressorPool } from '../../node/compress-pool.ts';
import { NodeFileSink } from '../../node/file-sink.ts';
import { parseOptionList, type ParsedArgs } from '../args.ts';
import { type CliIO, explain, fail, openForCommand, ovaDiskOption, sameFile } from '../context.ts';
import { progressPrinter } from '../progress.ts';

export async function convertToVmdkOrOva(args: ParsedArgs, io: CliIO, outFormat: 'vmdk' | 'ova'): Promise<number> {
  const [source, target] = args.positional;
  if (args.flags.has('c') && outFormat === 'ova') fail(io, 'Compression not supported for this file format');
  if (args.values.has('B') || args.all.has('backing')) fail(io, `convert -O ${outFormat} with a backing file is not supported`);
  const options = parseOptionList((args.all.get('o') ?? []).join(','));
  let vmdk: Omit<StreamOptimizedSettings, 'cid' | 'extentName'> | undefined;
  let ova: OvaSettings | undefined;
  if (outFormat === 'vmdk') {
    const parsed = parseVmdkOptions(options);
    if ('error' in parsed) fail(io, parsed.createError ? `${target}: error while converting vmdk: ${parsed.error}` : parsed.error);
    vmdk = parsed.settings;
  } else {
    const parsed = parseOvaOptions(options);
    if ('error' in parsed) fail(io, parsed.error);
    ova = parsed.settings;
  }
  if (await sameFile(source, target)) fail(io, `The output '${target}' is the input: diskimg never writes to its input`);
  const image = await openForCommand(io, source, {
    format: args.values.get('f'),
    snapshot: args.values.get('l'),
    ovaDisk: ovaDiskOption(args.values),
  });
  const threads = Number(args.values.get('threads') ?? 0) || undefined;
  const compressor: ClusterCompressor =
    threads === 1 ? inlineCompressor(vmdkGrainDeflater(GRAIN_SIZE)) : new NodeCompressorPool('vmdk', GRAIN_SIZE, threads);
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  const progress = progressPrinter(io, args.flags.has('p') && !args.flags.has('q'));
  const sink = await explain(io, 'Could not create the output', () => NodeFileSink.create(target));
  try {
    await explain(io, 'error while converting', async () => {
      await convertImage(image, sink, {
        outputFormat: outFormat,
        compressor,
        onProgress: progress.update,
        signal: controller.signal,
        // QEMU draws the CID at random (g_random_int) and names the extent by the file's base name.
        vmdk: vmdk && { ...vmdk, cid: Math.floor(Math.random() * 0x1_0000_0000), extentName: basename(target) },
        ova: ova && { ova, defaultName: basename(target).replace(/\.ova$/i, '') },
      });
    });
    await sink.close();
    progress.end();
    return 0;
  } catch (error) {
    await sink.abort();
    if (error instanceof DiskImgError && error.kind === 'aborted') fail(io, 'Cancelled; the partial output was removed');
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    await compressor.close?.();
    await image.close();
  }
}
