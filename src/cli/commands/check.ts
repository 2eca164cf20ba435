import { checkImage, checkJson } from '../../core/check.ts';
import { formatQemuJson } from '../../core/qemu-json.ts';
import { parseArgs } from '../args.ts';
import { type CliIO, explain, fail, openForCommand, outputFormat, usage } from '../context.ts';
import { checkHuman } from '../format.ts';
import { SECRET_OPTIONS, Secrets, imageSpec } from '../secrets.ts';

export const checkHelp = 'check [-f FMT] [--output=human|json] [--object secret,...] [--image-opts] [-U] FILE';

/** qemu-img's exit codes: 1 check errors, 2 corruptions, 3 leaks only, 63 no checks for the format. */
export async function check(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv, { withValue: 'fr', flags: 'Uqh', long: { output: { key: 'output', value: true }, 'force-share': { key: 'U', value: false }, repair: { key: 'r', value: true }, ...SECRET_OPTIONS } });
  const format = outputFormat(io, args.values.get('output'));
  if (args.values.has('r')) fail(io, 'repair (-r) is not supported: diskimg only ever reads its inputs; convert the image to get a clean copy');
  if (args.positional.length !== 1) usage('Expecting one image file name');
  const spec = imageSpec(io, args, Secrets.fromArgs(io, args), args.positional[0], args.values.get('f'));
  // The check reads only metadata, so an encrypted image needs no passphrase here (qemu-img wants one).
  const image = await openForCommand(io, spec.path, { format: spec.format, display: spec.display, noBacking: true, allowLocked: true, forCheck: true });
  try {
    if (!image.layers[0].check) fail(io, 'This image format does not support checks', 63);
    const result = await explain(io, 'Check failed', () => checkImage(image));
    for (const message of result.messages) io.stderr(`${message}\n`);
    if (format === 'json') io.stdout(`${formatQemuJson(checkJson({ ...result, filename: args.positional[0] }))}\n`);
    else io.stdout(checkHuman(result as unknown as Record<string, number>));
    if (result['check-errors']) return 1;
    if (result.corruptions) return 2;
    return result.leaks ? 3 : 0;
  } finally {
    await image.close();
  }
}
