import { open as openFile } from 'node:fs/promises';
import { openImage } from '../../core/open.ts';
import { combinePath } from '../../core/paths.ts';
import { DEFAULT_WRITE_OPTIONS, Qcow2Writer, validateOptions, type Qcow2WriteOptions } from '../../core/formats/qcow2/write/writer.ts';
import { NodeFileSink } from '../../node/file-sink.ts';
import { NodeFileStorage } from '../../node/file-storage.ts';
import { parseArgs, parseOptionList, parseSize } from '../args.ts';
import { type CliIO, explain, fail, usage } from '../context.ts';
import { ENCRYPT_KEYS, encryptOptions, qcow2Options } from '../qcow2-options.ts';
import { SECRET_OPTIONS, Secrets } from '../secrets.ts';
import { prepareEncryption } from '../../core/formats/qcow2/encryption.ts';
import { luksCreateSpec } from '../../core/crypto/luks.ts';
import { nodeCrypto } from '../../node/crypto.ts';

export const createHelp = 'create [-f qcow2|raw] [-b BACKING -F BACKING_FMT] [-o OPTIONS] [--object secret,...] [-u] [-q] FILE [SIZE]';

function formattingLine(file: string, o: Qcow2WriteOptions, size: number, encrypt?: Map<string, string>): string {
  const encryptText = ENCRYPT_KEYS.filter((key) => encrypt?.has(key))
    .map((key) => ` ${key}=${encrypt!.get(key)}`)
    .join('');
  const backing = o.backingFile !== undefined ? ` backing_file=${o.backingFile} backing_fmt=${o.backingFormat}` : '';
  const compat = o.compat === '0.10' ? ' compat=0.10' : '';
  const prealloc = o.preallocation === 'metadata' ? ' preallocation=metadata' : '';
  return `Formatting '${file}', fmt=qcow2${encryptText} cluster_size=${o.clusterSize} extended_l2=off${prealloc} compression_type=${o.compressionType} size=${size}${backing}${compat} lazy_refcounts=${o.lazyRefcounts ? 'on' : 'off'} refcount_bits=${o.refcountBits}\n`;
}

export async function create(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv, { withValue: 'fbFo', flags: 'quh', long: { object: SECRET_OPTIONS.object } });
  const secrets = Secrets.fromArgs(io, args);
  const format = args.values.get('f') ?? 'raw';
  const [file, sizeText] = args.positional;
  if (!file) usage('Expecting image file name');
  if (args.positional.length > 2) usage('Unexpected argument');
  const quiet = args.flags.has('q');
  // qemu-img prints the size asked for, and makes the image that size rounded up to sectors.
  let requested = sizeText === undefined ? undefined : parseSize(sizeText);
  if (sizeText !== undefined && requested === undefined)
    fail(io, 'Invalid image size specified. You may use k, M, G, T, P or E suffixes for');
  let size = requested === undefined ? undefined : Math.ceil(requested / 512) * 512;

  if (format === 'raw') {
    if (args.values.has('b')) fail(io, `${file}: Backing file not supported for file format 'raw'`);
    if (size === undefined) fail(io, 'Image creation needs a size parameter');
    if (!quiet) io.stdout(`Formatting '${file}', fmt=raw size=${requested}\n`);
    const handle = await openFile(file, 'w');
    await handle.truncate(size);
    await handle.close();
    return 0;
  }
  if (format !== 'qcow2') fail(io, `Unknown file format '${format}'`);
  const optionList = parseOptionList((args.all.get('o') ?? []).join(','));
  const parsed = qcow2Options(optionList);
  if (parsed.error) fail(io, parsed.error);
  const encryption = encryptOptions(optionList);
  const { error: _unused, ...fromOptions } = parsed;
  const options: Qcow2WriteOptions = { ...DEFAULT_WRITE_OPTIONS, ...fromOptions };
  if (args.values.has('b')) options.backingFile = args.values.get('b');
  if (args.values.has('F')) options.backingFormat = args.values.get('F');
  if (options.backingFile !== undefined && options.backingFormat === undefined) {
    fail(io, `${file}: Backing file specified without backing format`);
  }
  if (options.backingFile !== undefined && size === undefined) {
    if (args.flags.has('u')) fail(io, `${file}: Image creation needs a size parameter`);
    // The overlay takes the backing file's size; the backing name is relative to the overlay.
    const backingPath = combinePath(file, options.backingFile);
    const backing = await explain(io, `${file}: Could not open backing image`, async () => {
      const image = await openImage(await NodeFileStorage.open(backingPath), { format: options.backingFormat, noBacking: true });
      await image.close();
      return image;
    });
    size = requested = backing.virtualSize;
  }
  if (size === undefined) fail(io, 'Image creation needs a size parameter');
  try {
    validateOptions(size, options);
  } catch (error) {
    fail(io, `${file}: ${(error as Error).message}`);
  }
  if (!quiet)
    io.stdout(formattingLine(file, options, requested ?? size, encryption && !('error' in encryption) ? encryption.given : undefined));
  if (encryption) {
    if ('error' in encryption) fail(io, `${file}: ${encryption.error}`);
    const { keySecret, given: _given, ...luks } = encryption;
    if (keySecret === undefined) fail(io, `${file}: Parameter 'encrypt.key-secret' is required for cipher`);
    if (options.preallocation === 'metadata')
      fail(io, `${file}: Encryption and preallocation=metadata are not supported together by diskimg`);
    const request = { ...luks, passphrase: secrets.get(io, keySecret!, file) };
    try {
      luksCreateSpec(request);
    } catch (error) {
      fail(io, `${file}: ${(error as Error).message}`);
    }
    options.encryption = await prepareEncryption(request, nodeCrypto());
  }
  const sink = await NodeFileSink.create(file);
  try {
    const writer = await Qcow2Writer.create(sink, size, options);
    await writer.finish();
    await sink.close();
  } catch (error) {
    await sink.abort();
    throw error;
  }
  return 0;
}
