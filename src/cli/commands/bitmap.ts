import { isDiskImgError } from '../../core/errors.ts';
import { BitmapActionError, Qcow2Bitmaps, type BitmapAction } from '../../core/formats/qcow2/bitmaps.ts';
import { Qcow2Layer } from '../../core/formats/qcow2/layer.ts';
import { NodeWritableFile } from '../../node/writable-file.ts';
import { parseArgs } from '../args.ts';
import { type CliIO, fail, openForCommand, refuseIfInUse, usage } from '../context.ts';
import { cvtnum } from '../cvtnum.ts';
import { SECRET_OPTIONS, Secrets, imageSpec } from '../secrets.ts';

export const bitmapHelp =
  'bitmap (--merge SOURCE | --add | --remove | --clear | --enable | --disable)... [-b SOURCE_FILE [-F SOURCE_FMT]] [-g GRANULARITY] [--object OBJECTDEF] [--image-opts | -f FMT] FILE BITMAP   (changes FILE in place, qcow2 only)';

const ACTION_FLAGS = ['add', 'remove', 'clear', 'enable', 'disable'] as const;

/** qemu-img runs the actions in the order given, so they are taken from argv before the rest is parsed. */
function splitActions(argv: readonly string[]): { actions: Array<{ kind: string; source?: string }>; rest: string[] } {
  const actions: Array<{ kind: string; source?: string }> = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if ((ACTION_FLAGS as readonly string[]).includes(arg.slice(2)) && arg.startsWith('--')) actions.push({ kind: arg.slice(2) });
    else if (arg === '--merge') {
      if (argv[i + 1] === undefined) usage("option '--merge' requires an argument");
      actions.push({ kind: 'merge', source: argv[++i] });
    } else if (arg.startsWith('--merge=')) actions.push({ kind: 'merge', source: arg.slice('--merge='.length) });
    else rest.push(arg);
  }
  return { actions, rest };
}

/** qemu-img bitmap: adds, removes, clears, enables, disables or merges a qcow2's persistent dirty bitmaps, in place. */
export async function bitmap(argv: string[], io: CliIO): Promise<number> {
  const { actions, rest } = splitActions(argv);
  const args = parseArgs(rest, { withValue: 'bgfF', flags: 'h', long: { ...SECRET_OPTIONS } });
  const secrets = Secrets.fromArgs(io, args);
  if (actions.length === 0) fail(io, 'Need at least one of --add, --remove, --clear, --enable, --disable, or --merge');
  // As img_bitmap: a granularity of 0 is no granularity, and the QMP argument is 32 bits wide.
  const granularityText = args.values.get('g');
  const granularity = granularityText === undefined ? 0n : cvtnum(io, 'granularity', granularityText);
  const adds = actions.some((a) => a.kind === 'add');
  if (granularity !== 0n && !adds) fail(io, 'granularity only supported with --add');
  if (args.values.has('F') && !args.values.has('b')) fail(io, '-F only supported with -b');
  if (args.values.has('b') && !actions.some((a) => a.kind === 'merge')) fail(io, 'Merge bitmap source file only supported with --merge');
  if (args.positional.length !== 2) fail(io, 'Expecting filename and bitmap name');
  const [fileArgument, name] = args.positional;
  const disabled = actions.some((a) => a.kind === 'disable');

  const spec = imageSpec(io, args, secrets, fileArgument, args.values.get('f'));
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
  const sourceImage = args.values.has('b')
    ? await openForCommand(io, args.values.get('b')!, { format: args.values.get('F'), noBacking: true, allowLocked: true })
    : undefined;
  const plan: BitmapAction[] = actions.map((a) =>
    a.kind === 'add'
      ? { kind: 'add', granularity: granularity === 0n ? undefined : Number(BigInt.asUintN(32, granularity)), disabled }
      : a.kind === 'merge'
        ? { kind: 'merge', source: a.source! }
        : { kind: a.kind as 'remove' | 'clear' | 'enable' | 'disable' },
  );
  try {
    if (!(layer instanceof Qcow2Layer)) {
      // Other formats hold no persistent bitmaps: the first action fails as QEMU's does.
      const first = plan[0];
      const reason =
        first.kind === 'add'
          ? "Can't store persistent bitmaps to #block0: Operation not supported"
          : `Dirty bitmap '${first.kind === 'merge' ? first.source : name}' not found`;
      fail(io, `Operation ${first.kind} on bitmap ${name} failed: ${reason}`);
    }
    const qcow2 = layer as Qcow2Layer;
    const target = await NodeWritableFile.open(spec.path).catch((error: unknown) =>
      fail(io, `Could not open '${spec.display}': ${(error as Error).message}`),
    );
    try {
      const bitmaps = await Qcow2Bitmaps.open(target, qcow2.header, qcow2.extensions).catch((error: unknown) => {
        if (isDiskImgError(error)) fail(io, `Could not open '${spec.display}': ${error.message}`);
        throw error;
      });
      const source =
        sourceImage && sourceImage.layers[0] instanceof Qcow2Layer
          ? { file: sourceImage.layers[0].storage, header: sourceImage.layers[0].header, extensions: sourceImage.layers[0].extensions }
          : undefined;
      let failure: string | undefined;
      for (const action of plan) {
        try {
          if (action.kind === 'merge' && sourceImage && !source)
            throw new BitmapActionError('merge', `Dirty bitmap '${action.source}' not found`);
          await bitmaps.apply(name, action, source);
        } catch (error) {
          if (!(error instanceof BitmapActionError)) throw error;
          failure = `Operation ${action.kind} on bitmap ${name} failed: ${error.message}`;
          break;
        }
      }
      // As qemu-img: what the actions before a failure did is still stored when the image closes.
      await bitmaps.close();
      if (failure) fail(io, failure);
    } finally {
      await target.close();
    }
  } finally {
    await sourceImage?.close();
  }
  return 0;
}
