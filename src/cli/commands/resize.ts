import { hasIncompat, INCOMPAT_CORRUPT } from '../../core/formats/qcow2/header.ts';
import { Qcow2Layer } from '../../core/formats/qcow2/layer.ts';
import { QCOW_MAX_L1_ENTRIES, resizeQcow2 } from '../../core/formats/qcow2/resize.ts';
import { NodeWritableFile } from '../../node/writable-file.ts';
import { parseArgs, parseSizeBig } from '../args.ts';
import { type CliIO, explain, fail, openForCommand, refuseIfInUse, usage } from '../context.ts';

export const resizeHelp = 'resize [-f qcow2|raw] [--shrink] [--preallocation=off|falloc|full (raw)] [-q] FILE [+|-]SIZE';

const PREALLOCATION_MODES = ['off', 'metadata', 'falloc', 'full'];

/** What qemu-img prints when it opens a raw image it had to probe for. */
const RAW_PROBE_WARNING = (file: string) =>
  `WARNING: Image format was not specified for '${file}' and probing guessed raw.\n         Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.\n         Specify the 'raw' format explicitly to remove the restrictions.\n`;

async function writeZeros(file: NodeWritableFile, from: number, to: number): Promise<void> {
  const zeros = new Uint8Array(1 << 20);
  for (let at = from; at < to; at += zeros.length) await file.write(at, zeros.subarray(0, Math.min(zeros.length, to - at)));
}

/** qemu-img resize: changes FILE in place (one of the few verbs that write their input). */
export async function resize(argv: string[], io: CliIO): Promise<number> {
  // As qemu-img, the size is always the last argument, taken before the options are read, so a
  // negative size ("-1G") is not an option.
  if (argv.length < 2) usage('Not enough arguments');
  const sizeText = argv[argv.length - 1];
  const args = parseArgs(argv.slice(0, -1), {
    withValue: 'f',
    flags: 'qUh',
    long: {
      shrink: { key: 'shrink', value: false },
      preallocation: { key: 'preallocation', value: true },
      format: { key: 'f', value: true },
      'image-opts': { key: 'image-opts', value: false },
      object: { key: 'object', value: true },
    },
  });
  const preallocation = args.values.get('preallocation') ?? 'off';
  if (!PREALLOCATION_MODES.includes(preallocation)) fail(io, `Invalid preallocation mode '${preallocation}'`);
  if (args.positional.length !== 1) usage('Expecting image file name and size');
  if (args.flags.has('image-opts')) fail(io, '--image-opts is not supported by diskimg resize');
  const [file] = args.positional;
  const relative = sizeText.startsWith('+') ? 1 : sizeText.startsWith('-') ? -1 : 0;
  const amount = parseSizeBig(relative ? sizeText.slice(1) : sizeText);
  if (amount === undefined || amount >= 1n << 64n)
    fail(
      io,
      "Parameter 'size' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.",
    );

  const format = args.values.get('f');
  // Opened read-only first: the engine's checks of the whole header, and the format probed.
  const image = await openForCommand(io, file, { format, noBacking: true, allowLocked: true });
  const [layer] = image.layers;
  await image.close();
  await refuseIfInUse(io, file, { write: true, resize: true });
  if (layer.format !== 'raw' && layer.format !== 'qcow2') fail(io, `diskimg resizes qcow2 and raw images, not ${layer.format}`);
  if (layer.format === 'raw' && format === undefined) io.stderr(RAW_PROBE_WARNING(file));
  if (layer instanceof Qcow2Layer && hasIncompat(layer.header, INCOMPAT_CORRUPT))
    fail(io, `Could not open '${file}': qcow2: Image is corrupt; cannot be opened read/write`);

  const current = layer.virtualSize;
  // Computed as QEMU does, in 64-bit signed integers: 8E wraps around to a negative size.
  const total = BigInt.asIntN(64, relative ? BigInt(current) + BigInt(relative) * amount! : amount!);
  if (total <= 0n) fail(io, 'New image size must be positive');
  if (total > BigInt(Number.MAX_SAFE_INTEGER)) {
    if (layer instanceof Qcow2Layer && total > BigInt(layer.header.l2Coverage) * BigInt(QCOW_MAX_L1_ENTRIES))
      fail(io, 'Failed to grow the L1 table: File too large');
    fail(io, 'diskimg resizes images up to 2^53 bytes (8 PiB)');
  }
  const newSize = Number(total);
  if (newSize <= current && preallocation !== 'off') fail(io, 'Preallocation can only be used for growing images');
  if (newSize < current && !args.flags.has('shrink')) {
    fail(
      io,
      "Use the --shrink option to perform a shrink operation.\ndiskimg: warning: Shrinking an image will delete all data beyond the shrunken image's end. Before performing such an operation, make sure there is no important data there.",
    );
  }
  if (layer.format === 'raw' && preallocation === 'metadata') fail(io, 'Unsupported preallocation mode: metadata');
  if (layer.format !== 'raw' && preallocation !== 'off')
    fail(io, `--preallocation=${preallocation} is not supported by diskimg for ${layer.format} (only off)`);

  const target = await explain(io, 'Could not open the image for writing', () => NodeWritableFile.open(file));
  try {
    await explain(io, 'Could not resize the image', async () => {
      try {
        if (layer instanceof Qcow2Layer)
          await resizeQcow2(target, layer.header, newSize, { hasBitmaps: layer.extensions.bitmaps !== undefined });
        // A raw image is its file: a new length, holes where it grew (QEMU's ftruncate), or
        // zeros written there (full; falloc too: Node cannot fallocate, and the bytes are the same).
        else {
          await target.truncate(newSize);
          if (preallocation !== 'off') await writeZeros(target, current, newSize);
          await target.sync();
        }
      } catch (error) {
        // QEMU's own refusals read as qemu-img prints them.
        if (error instanceof Error && 'kind' in error && error.kind === 'usage') fail(io, error.message);
        throw error;
      }
    });
  } finally {
    await target.close();
  }
  if (!args.flags.has('q')) io.stdout('Image resized.\n');
  return 0;
}
