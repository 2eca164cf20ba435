import { basename, dirname, join } from 'node:path';
import { deflateCompressor, inlineCompressor, type ClusterCompressor } from '../../core/codecs/compress.ts';
import { DiskImgError } from '../../core/errors.ts';
import { DEFAULT_WRITE_OPTIONS, validateOptions } from '../../core/formats/qcow2/write/writer.ts';
import { convertImage, OUTPUT_FORMATS, outputCompanions, type OutputFormat } from '../../core/pipeline/convert-image.ts';
import { outputDriver } from '../../core/formats/outputs.ts';
import { parseOutputOptions } from '../../core/formats/output/driver.ts';
import { NodeFileSink } from '../../node/file-sink.ts';
import { NodeCompressorPool } from '../../node/compress-pool.ts';
import { parseArgs, parseOptionList } from '../args.ts';
import { type CliIO, OVA_DISK_OPTION, explain, fail, openForCommand, ovaDiskOption, sameFile, usage } from '../context.ts';
import { progressPrinter } from '../progress.ts';
import { encryptOptions, qcow2Options } from '../qcow2-options.ts';
import { SECRET_OPTIONS, Secrets, imageSpec, passphraseFile } from '../secrets.ts';
import { nodeCrypto } from '../../node/crypto.ts';
import type { EncryptRequest } from '../../core/formats/qcow2/encryption.ts';
import { luksCreateSpec } from '../../core/crypto/luks.ts';
import { convertToVmdkOrOva } from './convert-vmdk.ts';

export const convertHelp = `convert [-f FMT] [--ova-disk N] [-O ${OUTPUT_FORMATS.join('|')}|ova] [-c] [-o OPTIONS] [-l SNAPSHOT] [-p] [-m N] [--backing FILE]... [--object secret,...] [--image-opts] [--passphrase-file FILE] [-U] SRC DST`;

export async function convert(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv, {
    withValue: 'fOolsSmtTBF',
    flags: 'cpqUWnh',
    long: {
      'force-share': { key: 'U', value: false },
      backing: { key: 'backing', value: true },
      threads: { key: 'threads', value: true },
      ...OVA_DISK_OPTION,
      ...SECRET_OPTIONS,
    },
  });
  const secrets = Secrets.fromArgs(io, args);
  if (args.positional.length < 2) usage('Must specify image file name');
  if (args.positional.length > 2) usage('Only one source image is supported');
  const [source, target] = args.positional;
  const outFormat = (args.values.get('O') ?? 'raw') as OutputFormat | 'ova';
  // streamOptimized VMDKs and OVAs have a writer of their own (deflated grains, markers, a tar).
  const streamOptimized =
    outFormat === 'vmdk' && parseOptionList((args.all.get('o') ?? []).join(',')).get('subformat') === 'streamOptimized';
  if (outFormat === 'ova' || streamOptimized) return convertToVmdkOrOva(args, io, outFormat as 'vmdk' | 'ova');
  if (!OUTPUT_FORMATS.includes(outFormat as OutputFormat)) fail(io, `Unknown file format '${outFormat}'`);
  if (args.values.has('B')) fail(io, 'convert -B (a backing file for the target) is not supported yet');
  const options = parseOptionList((args.all.get('o') ?? []).join(','));
  const compress = args.flags.has('c');
  // VHD, VDI, …: their -o options are read from the format's option table (formats/outputs.ts).
  const viaWriter = outFormat !== 'raw' && outFormat !== 'qcow2';
  if (viaWriter) {
    if (compress && !outputDriver(outFormat).compression) fail(io, 'Compression not supported for this file format');
    try {
      parseOutputOptions(outputDriver(outFormat), options);
    } catch (error) {
      fail(io, (error as Error).message);
    }
  }
  if (outFormat === 'raw' && (compress || options.size > 0))
    fail(io, compress ? 'Compression not supported for this file format' : `Invalid parameter '${[...options.keys()][0]}'`);
  const parsed = viaWriter ? {} : qcow2Options(options);
  if (parsed.error) fail(io, parsed.error);
  const encryption = viaWriter ? undefined : encryptOptions(options);
  if (encryption && 'error' in encryption) fail(io, `${target}: ${encryption.error}`);
  if (compress && parsed.preallocation === 'metadata') fail(io, 'Compression and preallocation not supported at the same time');
  if (compress && encryption) fail(io, 'Compression and encryption not supported at the same time');
  let encrypt: EncryptRequest | undefined;
  if (encryption && !('error' in encryption)) {
    const { keySecret, given: _given, ...luks } = encryption;
    const passphrase =
      keySecret !== undefined
        ? secrets.get(io, keySecret, target)
        : args.values.has('passphrase-file')
          ? passphraseFile(io, args.values.get('passphrase-file')!)
          : undefined;
    if (passphrase === undefined) fail(io, `${target}: Parameter 'encrypt.key-secret' is required for cipher`);
    encrypt = { ...luks, passphrase: passphrase! };
    if (parsed.preallocation === 'metadata')
      fail(io, `${target}: Encryption and preallocation=metadata are not supported together by diskimg`);
    try {
      luksCreateSpec(encrypt);
    } catch (error) {
      fail(io, `${target}: ${(error as Error).message}`);
    }
  }
  const spec = imageSpec(io, args, secrets, source, args.values.get('f'));
  if (await sameFile(spec.path, target)) fail(io, `The output '${target}' is the input: diskimg never writes to its input`);

  const image = await openForCommand(io, spec.path, {
    format: spec.format,
    display: spec.display,
    passphrase: spec.passphrase,
    snapshot: args.values.get('l'),
    backing: args.all.get('backing'),
    ovaDisk: ovaDiskOption(args.values),
  });
  // The backing files and external data files are inputs too.
  const inputs = image.layers.flatMap((layer, depth) => [...(depth > 0 ? [layer.storage.name] : []), ...(layer.otherFiles ?? [])]);
  for (const input of inputs) {
    if (await sameFile(input, target)) {
      await image.close();
      fail(io, `The output '${target}' is '${input}', which the input reads: diskimg never writes to its input`);
    }
  }
  const { error: _unused, ...qcow2 } = parsed;
  const writeOptions = { ...DEFAULT_WRITE_OPTIONS, ...qcow2 };
  if (outFormat === 'qcow2') {
    try {
      validateOptions(image.virtualSize, writeOptions);
    } catch (error) {
      await image.close();
      fail(io, `${target}: ${(error as Error).message}`);
    }
  }
  /** The other files the output consists of (a monolithicFlat VMDK's extent), beside it. */
  let companions: string[] = [];
  if (viaWriter) {
    // What the format's create refuses, qemu-img reports as a failed conversion, before any write.
    try {
      companions = outputCompanions(outFormat, options, image.virtualSize, basename(target)).map((name) => join(dirname(target), name));
    } catch (error) {
      await image.close();
      fail(io, `${target}: error while converting ${outFormat}: ${(error as Error).message}`);
    }
    for (const companion of companions) {
      for (const input of [spec.path, ...inputs]) {
        if (await sameFile(input, companion)) {
          await image.close();
          fail(io, `The output's '${companion}' is '${input}', which the input reads: diskimg never writes to its input`);
        }
      }
    }
  }
  let compressor: ClusterCompressor | undefined;
  if (compress) {
    const threads = Number(args.values.get('threads') ?? 0) || undefined;
    compressor =
      threads === 1 && writeOptions.compressionType === 'zlib'
        ? inlineCompressor(deflateCompressor(writeOptions.clusterSize))
        : new NodeCompressorPool(writeOptions.compressionType, writeOptions.clusterSize, threads);
  }
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  const progress = progressPrinter(io, args.flags.has('p') && !args.flags.has('q'));
  const sink = await explain(io, 'Could not create the output', () => NodeFileSink.create(target));
  const companionSinks: NodeFileSink[] = [];
  try {
    for (const companion of companions)
      companionSinks.push(await explain(io, 'Could not create the output', () => NodeFileSink.create(companion)));
    await explain(io, 'error while converting', async () => {
      await convertImage(image, sink, {
        outputFormat: outFormat,
        formatOptions: viaWriter ? options : undefined,
        outputFileName: basename(target),
        companionSinks,
        qcow2,
        compressor,
        encrypt,
        crypto: nodeCrypto(),
        onProgress: progress.update,
        signal: controller.signal,
      });
    });
    for (const companion of companionSinks) await companion.close();
    await sink.close();
    progress.end();
    return 0;
  } catch (error) {
    // Never leave a partial output that looks like a whole image.
    for (const companion of companionSinks) await companion.abort();
    await sink.abort();
    if (error instanceof DiskImgError && error.kind === 'aborted') fail(io, 'Cancelled; the partial output was removed');
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    await compressor?.close?.();
    await image.close();
  }
}
