import { isDiskImgError } from '../../core/errors.ts';
import { amendQcow2, type AmendRequest } from '../../core/formats/qcow2/amend.ts';
import { Qcow2Layer } from '../../core/formats/qcow2/layer.ts';
import { resizeQcow2 } from '../../core/formats/qcow2/resize.ts';
import { amendKeySlots, type KeySlotRequest } from '../../core/formats/qcow2/keyslots.ts';
import { passphraseBytes } from '../../core/crypto/luks.ts';
import { nodeCrypto } from '../../node/crypto.ts';
import { NodeWritableFile } from '../../node/writable-file.ts';
import { parseArgs, parseOptionList, parseSizeBig } from '../args.ts';
import { type CliIO, fail, openForCommand, refuseIfInUse, usage } from '../context.ts';
import { SECRET_OPTIONS, Secrets, imageSpec } from '../secrets.ts';

export const amendHelp =
  'amend [--object OBJECTDEF] [--image-opts] [-p] [-q] [-f FMT] [-t CACHE] [--force] -o OPTIONS FILE   (changes FILE in place, qcow2 only)';

/** qcow2's amend options, as `qemu-img amend -o help` lists them. */
const AMEND_HELP = `Amend options for 'qcow2':
  backing_file=<str>     - File name of a base image
  backing_fmt=<str>      - Image format of the base image
  compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])
  data_file=<str>        - File name of an external data file
  data_file_raw=<bool (on/off)> - The external data file must stay valid as a raw image
  encrypt.iter-time=<num> - Time to spend in PBKDF in milliseconds
  encrypt.keyslot=<num>  - Select a single keyslot to modify explicitly
  encrypt.new-secret=<str> - New secret to set in the matching keyslots. Empty string to erase
  encrypt.old-secret=<str> - Select all keyslots that match this password
  encrypt.state=<str>    - Select new state of affected keyslots (active/inactive)
  lazy_refcounts=<bool (on/off)> - Postpone refcount updates
  refcount_bits=<num>    - Width of a reference count entry in bits
  size=<size>            - Virtual disk size
`;

const AMENDABLE = new Set(AMEND_HELP.split('\n').flatMap((line) => /^ {2}([\w.-]+)=/.exec(line)?.[1] ?? []));
/** qcow2's create options that amend cannot change. */
const CREATE_ONLY = new Set([
  'cluster_size',
  'preallocation',
  'encryption',
  'extended_l2',
  'compression_type',
  'encrypt.format',
  'encrypt.key-secret',
  'encrypt.cipher-alg',
  'encrypt.cipher-mode',
  'encrypt.ivgen-alg',
  'encrypt.ivgen-hash-alg',
  'encrypt.hash-alg',
]);
const COMPAT: Record<string, 2 | 3> = { '0.10': 2, v2: 2, '1.1': 3, v3: 3 };
const BOOL: Record<string, boolean> = { on: true, yes: true, true: true, y: true, off: false, no: false, false: false, n: false };

/** The -o list as qcow2_amend_options reads it, with its messages; options it rejects fail here. */
function readOptions(io: CliIO, options: Map<string, string>): AmendRequest & { size?: bigint; encryption: boolean } {
  const request: AmendRequest & { size?: bigint; encryption: boolean } = { encryption: false };
  for (const [key, value] of options) {
    if (CREATE_ONLY.has(key)) fail(io, `Invalid parameter '${key}'\nThis option is only supported for image creation`);
    if (!AMENDABLE.has(key)) fail(io, `Invalid parameter '${key}'`);
    if (key === 'lazy_refcounts' || key === 'data_file_raw') {
      if (!(value in BOOL)) fail(io, `Parameter '${key}' expects 'on' or 'off'`);
    }
    if ((key === 'refcount_bits' || key === 'encrypt.keyslot' || key === 'encrypt.iter-time') && !/^\d+$/.test(value))
      fail(io, `Parameter '${key}' expects a number`);
    if (key === 'size') {
      const size = parseSizeBig(value);
      if (size === undefined || size >= 1n << 64n)
        fail(
          io,
          "Parameter 'size' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.",
        );
      request.size = size;
    }
  }
  // qcow2_amend_options walks its options in its own table's order.
  for (const [key, value] of options) {
    if (key === 'compat') {
      if (!(value in COMPAT)) fail(io, `Unknown compatibility level ${value}`);
      request.version = COMPAT[value];
    } else if (key === 'backing_file' || key === 'backing_fmt')
      fail(io, "Cannot amend the backing file\nYou can use 'qemu-img rebase' instead.");
    else if (key === 'data_file') fail(io, 'data-file can only be set for images that use an external data file');
    else if (key === 'data_file_raw') fail(io, 'data-file-raw cannot be set on existing images');
    else if (key === 'lazy_refcounts') request.lazyRefcounts = BOOL[value];
    else if (key === 'refcount_bits') {
      const bits = Number(value);
      if (bits > 64 || (bits & (bits - 1)) !== 0 || bits === 0)
        fail(io, 'Refcount width must be a power of two and may not exceed 64 bits');
      request.refcountBits = bits;
    } else if (key.startsWith('encrypt.')) request.encryption = true;
  }
  return request;
}

/** The encrypt.* options of amend (QCryptoBlockAmendOptionsLUKS), their secrets looked up. */
function keySlotRequest(io: CliIO, options: Map<string, string>, secrets: Secrets): KeySlotRequest {
  const state = options.get('encrypt.state');
  if (state === undefined) fail(io, "Parameter 'state' is missing");
  if (state !== 'active' && state !== 'inactive') fail(io, `Parameter 'state' does not accept value '${state}'`);
  const secret = (key: string) => (options.has(key) ? secrets.get(io, options.get(key)!) : undefined);
  const number = (key: string) => (options.has(key) ? Number(options.get(key)) : undefined);
  return {
    state: state as 'active' | 'inactive',
    keyslot: number('encrypt.keyslot'),
    iterTime: number('encrypt.iter-time'),
    newSecret: secret('encrypt.new-secret'),
    oldSecret: secret('encrypt.old-secret'),
  };
}

/** qemu-img amend: changes a qcow2's options in place (one of the few verbs that write their input). */
export async function amend(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv, {
    withValue: 'oft',
    flags: 'pqh',
    long: { force: { key: 'force', value: false }, ...SECRET_OPTIONS },
  });
  const secrets = Secrets.fromArgs(io, args);
  const optionText = (args.all.get('o') ?? []).join(',');
  if (!args.values.has('o')) usage('Must specify options (-o)');
  if (optionText.split(',').includes('help')) {
    io.stdout(AMEND_HELP);
    return 0;
  }
  if (args.positional.length !== 1) fail(io, 'Expecting one image file name');
  if (optionText === '') fail(io, `Invalid option list: ${optionText}`);
  const spec = imageSpec(io, args, secrets, args.positional[0], args.values.get('f'));
  const image = await openForCommand(io, spec.path, {
    format: spec.format,
    display: spec.display,
    passphrase: spec.passphrase,
    noBacking: true,
    allowLocked: true,
  });
  const [layer] = image.layers;
  await image.close();
  await refuseIfInUse(io, spec.path, { write: true });
  if (!(layer instanceof Qcow2Layer)) {
    if (layer.format === 'raw' && spec.format === undefined)
      io.stderr(
        `WARNING: Image format was not specified for '${spec.display}' and probing guessed raw.\n         Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.\n         Specify the 'raw' format explicitly to remove the restrictions.\n`,
      );
    fail(io, `Format driver '${layer.format}' does not support option amendment`);
  }
  const qcow2 = layer as Qcow2Layer;
  const request = readOptions(io, parseOptionList(optionText));
  let keySlots: KeySlotRequest | undefined;
  if (request.encryption) {
    if (qcow2.header.cryptMethod === 0) fail(io, "Can't amend encryption options - encryption not present");
    if (!qcow2.encryptionInfo?.luks) fail(io, 'diskimg amends the key slots of LUKS encryption only, not of legacy AES');
    keySlots = keySlotRequest(io, parseOptionList(optionText), secrets);
  }
  const target = await NodeWritableFile.open(spec.path).catch((error: unknown) =>
    fail(io, `Could not open '${spec.display}': ${(error as Error).message}`),
  );
  try {
    if (keySlots)
      await amendKeySlots(
        target,
        qcow2.extensions,
        qcow2.encryptionInfo!.luks!,
        keySlots,
        passphraseBytes(spec.passphrase!),
        args.flags.has('force'),
        nodeCrypto(),
      );
    const size = request.size;
    if (size !== undefined && size > BigInt(Number.MAX_SAFE_INTEGER)) fail(io, 'diskimg resizes images up to 2^53 bytes (8 PiB)');
    await amendQcow2(target, qcow2.header, qcow2.extensions, request, {
      hasBacking: qcow2.backingFilename !== undefined,
      resize:
        size === undefined || Number(size) === qcow2.header.sizeField
          ? undefined
          : (header) => resizeQcow2(target, header, Number(size), { hasBitmaps: qcow2.extensions.bitmaps !== undefined }),
    });
  } catch (error) {
    if (isDiskImgError(error)) fail(io, error.message);
    throw error;
  } finally {
    await target.close();
  }
  if (args.flags.has('p') && !args.flags.has('q')) io.stdout('    (0.00/100%)\r    (100.00/100%)\r    (100.00/100%)\r\n');
  return 0;
}
