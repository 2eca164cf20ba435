import { open } from 'node:fs/promises';
import { DiskImgError } from '../../core/errors.ts';
import { DRIVERS } from '../../core/formats/index.ts';
import { HostFile } from '../../core/formats/output/host-file.ts';
import { parseOutputOptions, resolveOutputOptions } from '../../core/formats/output/driver.ts';
import type { GuestWriter } from '../../core/formats/output/guest-writer.ts';
import { outputDriver, OUTPUT_FORMATS, type OutputFormat } from '../../core/formats/outputs.ts';
import { DEFAULT_WRITE_OPTIONS, Qcow2Writer } from '../../core/formats/qcow2/write/writer.ts';
import { ddCopy, ddOutputSize, ddRange, DD_DEFAULT_BLOCK, DD_MAX_BLOCK, rawGuestWriter, type DdOperands } from '../../core/pipeline/dd.ts';
import { NodeFileSink } from '../../node/file-sink.ts';
import { parseArgs } from '../args.ts';
import { cvtnum } from '../cvtnum.ts';
import { type CliIO, fail, openForCommand, sameFile } from '../context.ts';
import { SECRET_OPTIONS, Secrets, imageSpec } from '../secrets.ts';

export const ddHelp = `dd [--image-opts] [-U] [-f FMT] [-O ${OUTPUT_FORMATS.join('|')}] [bs=BLOCK_SIZE] [count=BLOCKS] [skip=BLOCKS] if=INPUT of=OUTPUT`;

/** strerror's words for what creating the output can meet, as qemu-img prints them. */
const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  EROFS: 'Read-only file system',
};

async function createOutput(io: CliIO, path: string): Promise<NodeFileSink> {
  // Tried once with the plain open, so the message is strerror's, not Node's.
  try {
    await (await open(path, 'w')).close();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    fail(io, `${path}: error while creating output image: Could not create '${path}': ${ERRNO_TEXT[code] ?? (error as Error).message}`);
  }
  return NodeFileSink.create(path);
}

async function outputWriter(format: OutputFormat, sink: NodeFileSink, size: number, fileName: string): Promise<GuestWriter> {
  if (format === 'raw') return rawGuestWriter(sink, size);
  if (format === 'qcow2') return Qcow2Writer.create(sink, size, DEFAULT_WRITE_OPTIONS);
  const driver = outputDriver(format);
  const options = resolveOutputOptions(driver, parseOutputOptions(driver, new Map()), size, { fileName });
  return driver.create!(HostFile.writing(sink), size, options, []);
}

/** qemu-img dd: copies a range of an image's disk into a new image (img_dd). */
export async function dd(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv, { withValue: 'fO', flags: 'hU', long: { 'force-share': { key: 'U', value: false }, ...SECRET_OPTIONS } });
  const secrets = Secrets.fromArgs(io, args);
  const operands: DdOperands = { blockSize: DD_DEFAULT_BLOCK };
  let input: string | undefined;
  let output: string | undefined;
  for (const operand of args.positional) {
    const eq = operand.indexOf('=');
    const name = eq < 0 ? operand : operand.slice(0, eq);
    const value = operand.slice(eq + 1);
    if (eq < 0 || !['bs', 'count', 'if', 'of', 'skip'].includes(name)) fail(io, `unrecognized operand ${name}`);
    if (name === 'bs') operands.blockSize = Number(cvtnum(io, 'bs', value, 1n, BigInt(DD_MAX_BLOCK)));
    else if (name === 'count') operands.count = cvtnum(io, 'count', value);
    else if (name === 'skip') operands.skip = cvtnum(io, 'skip', value);
    else if (name === 'if') input = value;
    else output = value;
  }
  if (input === undefined || output === undefined) fail(io, 'Must specify both input and output files');

  const spec = imageSpec(io, args, secrets, input!, args.values.get('f'));
  const image = await openForCommand(io, spec.path, { format: spec.format, display: spec.display, passphrase: spec.passphrase });
  try {
    const outFormat = args.values.get('O') ?? 'raw';
    if (!OUTPUT_FORMATS.includes(outFormat as OutputFormat)) {
      // A format qemu-img knows but cannot create gets its own message; one diskimg reads but does not write, ours.
      if (!DRIVERS.some((d) => d.name === outFormat)) fail(io, 'Unknown file format');
      fail(io, `Format driver '${outFormat}' is not written by diskimg (it writes ${OUTPUT_FORMATS.join(', ')})`);
    }
    const inputs = [spec.path, ...image.layers.flatMap((layer) => [layer.storage.name, ...(layer.otherFiles ?? [])])];
    for (const file of inputs)
      if (await sameFile(file, output!))
        fail(io, `The output '${output}' is '${file}', which the input reads: diskimg never writes to its input`);

    const range = ddRange(image.virtualSize, operands);
    const sink = await createOutput(io, output!);
    try {
      const writer = await outputWriter(outFormat as OutputFormat, sink, ddOutputSize(range), output!.split('/').pop()!);
      if (range.skippedPastEnd) io.stderr(`diskimg: ${input}: cannot skip to specified offset\n`);
      await ddCopy(image, writer, range);
      await sink.close();
    } catch (error) {
      await sink.abort();
      if (error instanceof DiskImgError) fail(io, `error while writing to output image file: ${error.message}`);
      throw error;
    }
  } finally {
    await image.close();
  }
  return 0;
}
