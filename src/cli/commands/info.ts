import { imageInfo } from '../../core/info.ts';
import { formatQemuJson } from '../../core/qemu-json.ts';
import { NodeFileStorage } from '../../node/file-storage.ts';
import { parseArgs } from '../args.ts';
import { type CliIO, openForCommand, outputFormat, usage } from '../context.ts';
import { infoHuman } from '../format.ts';
import { SECRET_OPTIONS, Secrets, imageSpec } from '../secrets.ts';

export const infoHelp = 'info [-f FMT] [--output=human|json] [--backing-chain] [--backing FILE]... [--object secret,...] [--image-opts] [-U] FILE';

export async function info(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv, {
    withValue: 'f',
    flags: 'Uh',
    long: { output: { key: 'output', value: true }, 'backing-chain': { key: 'chain', value: false }, 'force-share': { key: 'U', value: false }, format: { key: 'f', value: true }, backing: { key: 'backing', value: true }, ...SECRET_OPTIONS },
  });
  const format = outputFormat(io, args.values.get('output'));
  if (args.positional.length !== 1) usage('Expecting one image file name');
  const chain = args.flags.has('chain');
  const spec = imageSpec(io, args, Secrets.fromArgs(io, args), args.positional[0], args.values.get('f'));
  // As qemu-img info (BDRV_O_NO_IO): encrypted images are described without their passphrase.
  const image = await openForCommand(io, spec.path, { format: spec.format, display: spec.display, noBacking: !chain, backing: args.all.get('backing'), allowLocked: true });
  try {
    const infos = [];
    for (let depth = 0; depth < image.layers.length; depth++) {
      const storage = image.layers[depth].storage;
      const actualSize = storage instanceof NodeFileStorage ? await storage.allocatedBytes() : undefined;
      infos.push(await imageInfo(image, { depth, actualSize }));
    }
    if (format === 'json') io.stdout(`${formatQemuJson(chain ? infos : infos[0])}\n`);
    else io.stdout(infos.map(infoHuman).join('\n'));
    return 0;
  } finally {
    await image.close();
  }
}
