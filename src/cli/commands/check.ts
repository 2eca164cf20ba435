import { checkImage, checkJson, type CheckResult } from '../../core/check.ts';
import { Qcow2Layer } from '../../core/formats/qcow2/layer.ts';
import { repairLeaks } from '../../core/formats/qcow2/repair.ts';
import { NodeWritableFile } from '../../node/writable-file.ts';
import { formatQemuJson } from '../../core/qemu-json.ts';
import { parseArgs } from '../args.ts';
import { type CliIO, explain, fail, openForCommand, outputFormat, refuseIfInUse, usage } from '../context.ts';
import { checkHuman } from '../format.ts';
import { SECRET_OPTIONS, Secrets, imageSpec } from '../secrets.ts';

export const checkHelp =
  'check [-f FMT] [--output=human|json] [-r leaks|all] [--object secret,...] [--image-opts] [-U] FILE   (-r: qcow2 leaks only, in place)';

/** qemu-img's exit codes: 1 check errors, 2 corruptions, 3 leaks only, 63 no checks for the format. */
export async function check(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv, {
    withValue: 'fr',
    flags: 'Uqh',
    long: {
      output: { key: 'output', value: true },
      'force-share': { key: 'U', value: false },
      repair: { key: 'r', value: true },
      ...SECRET_OPTIONS,
    },
  });
  const format = outputFormat(io, args.values.get('output'));
  const repair = args.values.get('r');
  if (repair !== undefined && repair !== 'leaks' && repair !== 'all')
    usage(`Unknown option value for -r (expecting 'leaks' or 'all'): ${repair}`);
  if (args.positional.length !== 1) usage('Expecting one image file name');
  const spec = imageSpec(io, args, Secrets.fromArgs(io, args), args.positional[0], args.values.get('f'));
  if (repair !== undefined) await refuseIfInUse(io, spec.path, { write: true });
  const run = async (): Promise<{ result: CheckResult; layer: unknown }> => {
    // The check reads only metadata, so an encrypted image needs no passphrase here (qemu-img wants one).
    const image = await openForCommand(io, spec.path, {
      format: spec.format,
      display: spec.display,
      noBacking: true,
      allowLocked: true,
      forCheck: true,
    });
    try {
      if (!image.layers[0].check) fail(io, 'This image format does not support checks', 63);
      return { result: await explain(io, 'Check failed', () => checkImage(image)), layer: image.layers[0] };
    } finally {
      await image.close();
    }
  };
  const first = await run();
  const { layer } = first;
  let { result } = first;
  let leaksFixed = 0;
  if (repair !== undefined && result.leaks > 0) {
    if (!(layer instanceof Qcow2Layer)) fail(io, 'Repairing (-r) is supported by diskimg for qcow2 images only');
    if (result.corruptions > 0 || result['check-errors'] > 0)
      fail(
        io,
        'The image has corruptions: repairing them (-r all) is not supported by diskimg yet; nothing was changed (qemu-img check -r all repairs them)',
      );
    const leaks = result.leakedClusters ?? [];
    // QEMU compares twice: once finding (the check's lines), then once repairing, a line each.
    for (const message of result.messages) io.stderr(`${message}\n`);
    for (const leak of leaks) io.stderr(`Repairing cluster ${leak.cluster} refcount=${leak.refcount} reference=${leak.reference}\n`);
    const target = await explain(io, 'Could not open the image for writing', () => NodeWritableFile.open(spec.path));
    try {
      await explain(io, 'Repair failed', () => repairLeaks(target, (layer as Qcow2Layer).header, leaks));
    } finally {
      await target.close();
    }
    leaksFixed = leaks.length;
    if (format === 'human')
      io.stdout(
        `The following inconsistencies were found and repaired:\n\n    ${leaksFixed} leaked clusters\n    0 corruptions\n\nDouble checking the fixed image now...\n`,
      );
    ({ result } = await run());
  }
  for (const message of result.messages) io.stderr(`${message}\n`);
  if (format === 'json')
    io.stdout(
      `${formatQemuJson(checkJson({ ...result, filename: args.positional[0], ...(leaksFixed ? { 'leaks-fixed': leaksFixed } : {}) }))}\n`,
    );
  else io.stdout(checkHuman(result as unknown as Record<string, number>));
  if (result['check-errors']) return 1;
  if (result.corruptions) return 2;
  return result.leaks ? 3 : 0;
}
