import { mapEntries } from '../../core/map.ts';
import { parseArgs } from '../args.ts';
import { type CliIO, OVA_DISK_OPTION, explain, fail, openForCommand, outputFormat, ovaDiskOption, usage } from '../context.ts';
import { hex16 } from '../format.ts';
import { SECRET_OPTIONS, Secrets, imageSpec } from '../secrets.ts';

export const mapHelp =
  'map [-f FMT] [--ova-disk N] [--output=human|json] [--backing FILE]... [--object secret,...] [--image-opts] [-U] FILE';

export async function map(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv, {
    withValue: 'f',
    flags: 'Uh',
    long: {
      output: { key: 'output', value: true },
      'force-share': { key: 'U', value: false },
      format: { key: 'f', value: true },
      backing: { key: 'backing', value: true },
      ...OVA_DISK_OPTION,
      ...SECRET_OPTIONS,
    },
  });
  const format = outputFormat(io, args.values.get('output'));
  if (args.positional.length !== 1) usage('Expecting one image file name');
  const spec = imageSpec(io, args, Secrets.fromArgs(io, args), args.positional[0], args.values.get('f'));
  // The map reads no guest data, so an encrypted image needs no passphrase here (qemu-img wants one).
  const image = await openForCommand(io, spec.path, {
    format: spec.format,
    display: spec.display,
    backing: args.all.get('backing'),
    allowLocked: true,
    ovaDisk: ovaDiskOption(args.values),
  });
  try {
    await explain(io, 'error while reading block status', async () => {
      if (format === 'json') {
        const lines: string[] = [];
        for await (const e of mapEntries(image)) {
          const offset = e.offset !== undefined ? `, "offset": ${e.offset}` : '';
          lines.push(
            `{ "start": ${e.start}, "length": ${e.length}, "depth": ${e.depth}, "present": ${e.present}, "zero": ${e.zero}, "data": ${e.data}${offset}}`,
          );
        }
        io.stdout(`[${lines.join(',\n')}]\n`);
        return;
      }
      let out = `${'Offset'.padEnd(16)}${'Length'.padEnd(16)}${'Mapped to'.padEnd(16)}File\n`;
      for await (const e of mapEntries(image)) {
        if (e.data && e.offset === undefined) {
          io.stdout(out);
          fail(io, 'File contains external, encrypted or compressed clusters.');
        }
        if (e.data && !e.zero) out += `${hex16(e.start)}${hex16(e.length)}${hex16(e.offset ?? 0)}${e.filename ?? ''}\n`;
      }
      io.stdout(out);
    });
    return 0;
  } finally {
    await image.close();
  }
}
