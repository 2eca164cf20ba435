import { luksPayloadBytes } from '../../core/crypto/luks.ts';
import { CIPHER_MODES, type CipherAlg, type CipherMode } from '../../core/crypto/sector-cipher.ts';
import { isDiskImgError } from '../../core/errors.ts';
import {
  DEFAULT_MEASURE_OPTIONS,
  measure,
  type Measurement,
  type MeasureSource,
  type Preallocation,
  type Qcow2MeasureOptions,
} from '../../core/pipeline/measure.ts';
import { formatQemuJson } from '../../core/qemu-json.ts';
import { parseArgs, parseOptionList, parseSizeBig } from '../args.ts';
import { type CliIO, OVA_DISK_OPTION, explain, fail, openForCommand, outputFormat, ovaDiskOption } from '../context.ts';
import { SECRET_OPTIONS, Secrets, imageSpec } from '../secrets.ts';

export const measureHelp =
  'measure [--output=human|json] [-O raw|qcow2] [-o OPTIONS] [--object secret,...] (--size SIZE | [-f FMT] [-l SNAPSHOT] [--image-opts] [-U] FILE)';

/** The -o keys each output format's creation accepts in qemu-img 7.2 (qcow2_create_opts, file-posix's). */
const CREATE_KEYS: Record<string, ReadonlySet<string>> = {
  qcow2: new Set([
    'size',
    'compat',
    'backing_file',
    'backing_fmt',
    'encryption',
    'encrypt.format',
    'encrypt.key-secret',
    'encrypt.cipher-alg',
    'encrypt.cipher-mode',
    'encrypt.ivgen-alg',
    'encrypt.ivgen-hash-alg',
    'encrypt.hash-alg',
    'encrypt.iter-time',
    'cluster_size',
    'data_file',
    'data_file_raw',
    'preallocation',
    'lazy_refcounts',
    'refcount_bits',
    'compression_type',
    'extended_l2',
  ]),
  raw: new Set(['size', 'preallocation', 'nocow', 'extent_size_hint']),
};
const SIZE_KEYS = new Set(['size', 'cluster_size', 'extent_size_hint']);
const BOOL_KEYS = new Set(['encryption', 'data_file_raw', 'lazy_refcounts', 'extended_l2', 'nocow']);
const NUMBER_KEYS = new Set(['refcount_bits', 'encrypt.iter-time']);
const PREALLOCATION_MODES: readonly string[] = ['off', 'metadata', 'falloc', 'full'];

const INVALID_SIZE =
  'Invalid image size specified. You may use k, M, G, T, P or E suffixes for\ndiskimg: kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.';
const SIZE_SUFFIX_HINT = 'Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.';

/** -o for the output format, checked as qemu_opts_do_parse checks it, with its messages. */
function createOptions(io: CliIO, format: string, text: string): Map<string, string> {
  const options = parseOptionList(text);
  const invalid = (message: string): never => fail(io, `${message}\ndiskimg: Invalid options for file format '${format}'`);
  for (const [key, value] of options) {
    if (!CREATE_KEYS[format].has(key)) invalid(`Invalid parameter '${key}'`);
    if (SIZE_KEYS.has(key) && parseSizeBig(value) === undefined)
      invalid(`Parameter '${key}' expects a non-negative number below 2^64\n${SIZE_SUFFIX_HINT}`);
    if (BOOL_KEYS.has(key) && value !== 'on' && value !== 'off') invalid(`Parameter '${key}' expects 'on' or 'off'`);
    if (NUMBER_KEYS.has(key) && !/^\d+$/.test(value)) invalid(`Parameter '${key}' expects a number`);
  }
  return options;
}

/** qcow2_measure's reading of the options: its defaults, its messages. */
function qcow2MeasureOptions(io: CliIO, options: Map<string, string>, secrets: Secrets): Qcow2MeasureOptions {
  const compat = options.get('compat');
  if (compat !== undefined && compat !== '0.10' && compat !== '1.1') fail(io, `Invalid compatibility level: '${compat}'`);
  const preallocation = options.get('preallocation') ?? 'off';
  if (!PREALLOCATION_MODES.includes(preallocation)) fail(io, `invalid parameter value: ${preallocation}`);
  const clusterSize = options.has('cluster_size') ? parseSizeBig(options.get('cluster_size')!)! : 65536n;
  const measured: Qcow2MeasureOptions = {
    ...DEFAULT_MEASURE_OPTIONS,
    // A cluster size past 2^53 is no power of two QEMU takes either: the check below says so.
    clusterSize: Number(clusterSize),
    version: compat === '0.10' ? 2 : 3,
    refcountBits: options.has('refcount_bits') ? Number(options.get('refcount_bits')) : 16,
    extendedL2: options.get('extended_l2') === 'on',
    preallocation: preallocation as Preallocation,
    hasBackingFile: options.has('backing_file'),
  };
  if (options.get('encrypt.format') === 'luks') {
    const secret = options.get('encrypt.key-secret');
    if (secret === undefined) fail(io, "Parameter 'encrypt.key-secret' is required for cipher");
    secrets.get(io, secret!);
    const cipherMode = options.get('encrypt.cipher-mode');
    if (cipherMode !== undefined && !(CIPHER_MODES as readonly string[]).includes(cipherMode))
      fail(io, `Parameter 'cipher-mode' does not accept value '${cipherMode}'`);
    const cipherAlg = options.get('encrypt.cipher-alg') as CipherAlg | undefined;
    const bytes = luksPayloadBytes({ cipherAlg, cipherMode: cipherMode as CipherMode | undefined });
    if (!Number.isInteger(bytes)) fail(io, `Parameter 'cipher-alg' does not accept value '${cipherAlg}'`);
    measured.luksHeaderBytes = bytes;
  }
  return measured;
}

function printMeasurement(io: CliIO, m: Measurement, format: 'human' | 'json'): void {
  if (format === 'json') {
    const fields: Record<string, unknown> = { required: m.required, 'fully-allocated': m.fullyAllocated };
    if (m.bitmaps !== undefined) fields.bitmaps = m.bitmaps;
    io.stdout(`${formatQemuJson(fields)}\n`);
    return;
  }
  io.stdout(`required size: ${m.required}\nfully allocated size: ${m.fullyAllocated}\n`);
  if (m.bitmaps !== undefined) io.stdout(`bitmaps size: ${m.bitmaps}\n`);
}

export async function measureCommand(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv, {
    withValue: 'fOol',
    flags: 'Uh',
    long: {
      output: { key: 'output', value: true },
      size: { key: 'size', value: true },
      'force-share': { key: 'U', value: false },
      format: { key: 'f', value: true },
      ...OVA_DISK_OPTION,
      ...SECRET_OPTIONS,
    },
  });
  const secrets = Secrets.fromArgs(io, args);
  const format = outputFormat(io, args.values.get('output'));
  const sizeText = args.values.get('size');
  let size: bigint | undefined;
  if (sizeText !== undefined) {
    size = /^\s*-/.test(sizeText) ? undefined : parseSizeBig(sizeText);
    if (size === undefined) fail(io, INVALID_SIZE);
    if (size! >= 1n << 63n) fail(io, 'Invalid image size specified. Must be between 0 and 9223372036854775807.');
  }
  const [file, ...extra] = args.positional;
  if (extra.length > 0) fail(io, 'At most one filename argument is allowed.');
  if (file === undefined && (args.flags.has('image-opts') || args.values.has('f') || args.values.has('l')))
    fail(io, '--image-opts, -f, and -l require a filename argument.');
  if (file !== undefined && size !== undefined) fail(io, '--size N cannot be used together with a filename.');
  if (file === undefined && size === undefined) fail(io, 'Either --size N or one filename must be specified.');

  const outFormat = args.values.get('O') ?? 'raw';
  if (outFormat !== 'raw' && outFormat !== 'qcow2') {
    // qemu-img knows more formats than diskimg writes; those it knows say they cannot be measured.
    const known = ['vmdk', 'vdi', 'vpc', 'vhdx', 'qed', 'qcow', 'parallels', 'luks', 'dmg', 'bochs', 'cloop'];
    fail(
      io,
      known.includes(outFormat) ? `Block driver '${outFormat}' does not support size measurement` : `Unknown file format '${outFormat}'`,
    );
  }
  const options = createOptions(io, outFormat, (args.all.get('o') ?? []).join(','));
  const qcow2 = outFormat === 'qcow2' ? qcow2MeasureOptions(io, options, secrets) : undefined;

  let source: MeasureSource;
  let close = async () => {};
  if (file !== undefined) {
    const spec = imageSpec(io, args, secrets, file, args.values.get('f'));
    // As qemu-img, an encrypted source is opened with its passphrase (though only its tables are read).
    const image = await openForCommand(io, spec.path, {
      format: spec.format,
      display: spec.display,
      passphrase: spec.passphrase,
      snapshot: args.values.get('l'),
      ovaDisk: ovaDiskOption(args.values),
    });
    source = { image };
    close = () => image.close();
  } else {
    source = { size: size! };
  }
  try {
    const measured = await explain(io, 'measure', async () => {
      try {
        return await measure(source, outFormat, qcow2);
      } catch (error) {
        // Option errors are said as qemu-img says them, without a prefix.
        if (isDiskImgError(error) && error.kind === 'usage') fail(io, error.message);
        throw error;
      }
    });
    printMeasurement(io, measured, format);
    return 0;
  } finally {
    await close();
  }
}

export { measureCommand as measure };
