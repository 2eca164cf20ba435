import { snapshotList } from '../../core/info.ts';
import { hasIncompat, INCOMPAT_CORRUPT } from '../../core/formats/qcow2/header.ts';
import { Qcow2Layer } from '../../core/formats/qcow2/layer.ts';
import { applySnapshot, createSnapshot, deleteSnapshot } from '../../core/formats/qcow2/snapshot-write.ts';
import { isDiskImgError } from '../../core/errors.ts';
import { NodeWritableFile } from '../../node/writable-file.ts';
import { parseArgs } from '../args.ts';
import { type CliIO, fail, openForCommand, refuseIfInUse, usage } from '../context.ts';
import { snapshotTable } from '../format.ts';

export const snapshotHelp =
  'snapshot [-l | -c NAME | -a NAME | -d NAME] [-f FMT] [-q] [-U] FILE   (-c, -a and -d change FILE in place, qcow2 only)';

const ACTIONS = {
  c: { verb: 'create', run: createSnapshot },
  a: { verb: 'apply', run: applySnapshot },
  d: { verb: 'delete', run: deleteSnapshot },
} as const;

/** qemu-img snapshot: lists, or changes the image in place (one of the few verbs that write their input). */
export async function snapshot(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv, { withValue: 'facd', flags: 'lUqh', long: { 'force-share': { key: 'U', value: false } } });
  const chosen = [...(args.flags.has('l') ? ['l'] : []), ...(['a', 'c', 'd'] as const).filter((a) => args.values.has(a))];
  if (chosen.length > 1 || ['a', 'c', 'd'].some((a) => (args.all.get(a)?.length ?? 0) > 1)) usage("Cannot mix '-l', '-a', '-c', '-d'");
  if (args.positional.length !== 1) usage('Expecting one image file name');
  const [file] = args.positional;
  const format = args.values.get('f');
  const image = await openForCommand(io, file, { format, noBacking: true, allowLocked: true });
  const [layer] = image.layers;
  if (chosen[0] === 'l') {
    try {
      const list = snapshotList(image);
      if (list.length > 0) io.stdout(snapshotTable(list));
      return 0;
    } finally {
      await image.close();
    }
  }
  await image.close();
  if (chosen.length === 0) return 0; // qemu-img does nothing either
  await refuseIfInUse(io, file, { write: true });
  const action = ACTIONS[chosen[0] as 'a' | 'c' | 'd'];
  const name = args.values.get(chosen[0])!;
  // qemu-img opens the image twice to apply a snapshot, and warns each time.
  for (let i = 0; i < (layer.format === 'raw' && format === undefined ? (chosen[0] === 'a' ? 2 : 1) : 0); i++) {
    io.stderr(
      `WARNING: Image format was not specified for '${file}' and probing guessed raw.\n         Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.\n         Specify the 'raw' format explicitly to remove the restrictions.\n`,
    );
  }
  if (!(layer instanceof Qcow2Layer)) {
    const reason =
      chosen[0] === 'c'
        ? '-95 (Operation not supported)'
        : chosen[0] === 'd'
          ? 'snapshot not found'
          : 'Block driver does not support snapshots';
    fail(io, `Could not ${action.verb} snapshot '${name}': ${reason}`);
  }
  if (hasIncompat((layer as Qcow2Layer).header, INCOMPAT_CORRUPT))
    fail(io, `Could not open '${file}': qcow2: Image is corrupt; cannot be opened read/write`);
  const target = await NodeWritableFile.open(file).catch((error: unknown) =>
    fail(io, `Could not open '${file}': ${(error as Error).message}`),
  );
  try {
    await action.run(target, (layer as Qcow2Layer).header, name);
  } catch (error) {
    if (isDiskImgError(error)) fail(io, `Could not ${action.verb} snapshot '${name}': ${error.message}`);
    throw error;
  } finally {
    await target.close();
  }
  return 0;
}
