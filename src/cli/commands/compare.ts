import { compareImages } from '../../core/pipeline/compare.ts';
import { parseArgs } from '../args.ts';
import { type CliIO, CommandFailed, OVA_DISK_OPTION, explain, openForCommand, ovaDiskOption, usage } from '../context.ts';
import { progressPrinter } from '../progress.ts';
import { SECRET_OPTIONS, Secrets, imageSpec } from '../secrets.ts';

export const compareHelp =
  'compare [-f FMT] [-F FMT] [--ova-disk N] [-s] [-p] [-q] [--object secret,...] [--image-opts] [--passphrase-file FILE] [-U] FILE1 FILE2';

/** Exit codes as qemu-img compare: 0 identical, 1 different, 2 open error, 4 read error. */
export async function compare(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv, {
    withValue: 'fFT',
    flags: 'spqUh',
    long: {
      strict: { key: 's', value: false },
      'force-share': { key: 'U', value: false },
      'a-format': { key: 'f', value: true },
      'b-format': { key: 'F', value: true },
      ...OVA_DISK_OPTION,
      ...SECRET_OPTIONS,
    },
  });
  if (args.positional.length !== 2) usage('Expecting two image file names');
  const secrets = Secrets.fromArgs(io, args);
  const quiet = args.flags.has('q');
  const say = (text: string) => !quiet && io.stdout(text);
  const open = async (argument: string, format?: string) => {
    try {
      const spec = imageSpec(io, args, secrets, argument, format);
      return await openForCommand(io, spec.path, {
        format: spec.format,
        display: spec.display,
        passphrase: spec.passphrase,
        ovaDisk: ovaDiskOption(args.values),
      });
    } catch (error) {
      if (error instanceof CommandFailed) throw new CommandFailed(2);
      throw error;
    }
  };
  const a = await open(args.positional[0], args.values.get('f'));
  const b = await open(args.positional[1], args.values.get('F')).catch(async (error) => {
    await a.close();
    throw error;
  });
  const progress = progressPrinter(io, args.flags.has('p') && !quiet);
  try {
    const result = await explain(io, 'Error while comparing', () =>
      compareImages(a, b, { strict: args.flags.has('s'), onProgress: progress.update }),
    ).catch((error) => {
      if (error instanceof CommandFailed) throw new CommandFailed(4);
      throw error;
    });
    progress.end();
    if (result.strictFailure) {
      say(`${result.strictFailure}\n`);
      return 1;
    }
    if (result.sizeMismatch && (result.identical || (result.mismatchOffset ?? 0) >= Math.min(a.virtualSize, b.virtualSize)))
      say('Warning: Image size mismatch!\n');
    if (!result.identical) {
      say(`Content mismatch at offset ${result.mismatchOffset}!\n`);
      return 1;
    }
    say('Images are identical.\n');
    return 0;
  } finally {
    await a.close();
    await b.close();
  }
}
