import { snapshotList } from '../../core/info.ts';
import { parseArgs } from '../args.ts';
import { type CliIO, fail, openForCommand, usage } from '../context.ts';
import { snapshotTable } from '../format.ts';

export const snapshotHelp = 'snapshot -l [-f FMT] [-U] FILE   (listing only: diskimg never writes to an input)';

export async function snapshot(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv, { withValue: 'facd', flags: 'lUqh', long: { 'force-share': { key: 'U', value: false } } });
  for (const action of ['a', 'c', 'd']) {
    if (args.values.has(action)) fail(io, `snapshot -${action} changes the image, and diskimg only ever reads its inputs; use qemu-img for that`);
  }
  if (!args.flags.has('l')) usage('snapshot: only -l (list) is supported');
  if (args.positional.length !== 1) usage('Expecting one image file name');
  const image = await openForCommand(io, args.positional[0], { format: args.values.get('f'), noBacking: true });
  try {
    const list = snapshotList(image);
    if (list.length > 0) io.stdout(snapshotTable(list));
    return 0;
  } finally {
    await image.close();
  }
}
