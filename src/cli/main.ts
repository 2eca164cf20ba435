/**
 * diskimg: qemu-img's commands, flags, output and exit codes, over the diskimg engine.
 * `main` takes argv and output callbacks so tests run it in-process.
 */
import { isDiskImgError } from '../core/errors.ts';
import { DRIVERS } from '../core/formats/index.ts';
import { UsageError } from './args.ts';
import { amend, amendHelp } from './commands/amend.ts';
import { bitmap, bitmapHelp } from './commands/bitmap.ts';
import { check, checkHelp } from './commands/check.ts';
import { commit, commitHelp } from './commands/commit.ts';
import { compare, compareHelp } from './commands/compare.ts';
import { convert, convertHelp } from './commands/convert.ts';
import { create, createHelp } from './commands/create.ts';
import { dd, ddHelp } from './commands/dd.ts';
import { info, infoHelp } from './commands/info.ts';
import { fs, fsHelp } from './commands/fs.ts';
import { iso, isoHelp } from './commands/iso.ts';
import { map, mapHelp } from './commands/map.ts';
import { measure, measureHelp } from './commands/measure.ts';
import { rebase, rebaseHelp } from './commands/rebase.ts';
import { resize, resizeHelp } from './commands/resize.ts';
import { snapshot, snapshotHelp } from './commands/snapshot.ts';
import { type CliIO, CommandFailed, PROGRAM } from './context.ts';

export const VERSION = '0.1.0';

const COMMANDS: Record<string, { run: (argv: string[], io: CliIO) => Promise<number>; help: string }> = {
  amend: { run: amend, help: amendHelp },
  bitmap: { run: bitmap, help: bitmapHelp },
  check: { run: check, help: checkHelp },
  commit: { run: commit, help: commitHelp },
  compare: { run: compare, help: compareHelp },
  convert: { run: convert, help: convertHelp },
  create: { run: create, help: createHelp },
  dd: { run: dd, help: ddHelp },
  fs: { run: fs, help: fsHelp },
  info: { run: info, help: infoHelp },
  iso: { run: iso, help: isoHelp },
  map: { run: map, help: mapHelp },
  measure: { run: measure, help: measureHelp },
  rebase: { run: rebase, help: rebaseHelp },
  resize: { run: resize, help: resizeHelp },
  snapshot: { run: snapshot, help: snapshotHelp },
};

function help(): string {
  return `${PROGRAM} version ${VERSION}: qemu-img's commands for disk images, run locally; inputs are only read, except by amend, bitmap, commit, rebase, resize, snapshot -c/-a/-d and check -r, which change their FILE in place as qemu-img does.
usage: ${PROGRAM} [standard options] command [command options]

Command syntax:
${Object.values(COMMANDS)
  .map((c) => `  ${c.help}`)
  .join('\n')}

Formats read (-f; probed by content when not given):
${DRIVERS.map((d) => `  ${d.name.padEnd(10)}${d.title}`).join('\n')}
Formats written (-O): qcow2 (optionally LUKS-encrypted), raw, vmdk (monolithicSparse, monolithicFlat, twoGbMaxExtentSparse/Flat, streamOptimized), vpc (dynamic, fixed), vdi (dynamic, static), vhdx (dynamic, fixed) and ova.
Encrypted images: --passphrase-file FILE, or qemu-img's --object secret,id=ID,data=...|file=...
with --image-opts driver=qcow2,file.filename=FILE,encrypt.key-secret=ID (inputs; a LUKS volume:
driver=luks,file.filename=FILE,key-secret=ID) and -o encrypt.format=luks,encrypt.key-secret=ID (outputs).
--backing FILE names a backing file explicitly (repeat it for each level, top down) instead of
the name stored in the image, which is otherwise resolved relative to the image's folder.
`;
}

const TRY_HELP = `Try '${PROGRAM} --help' for more information\n`;

export async function main(argv: string[], io: CliIO): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    io.stderr(`${PROGRAM}: Not enough arguments\n${TRY_HELP}`);
    return 1;
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    io.stdout(help());
    return 0;
  }
  if (command === '--version' || command === '-V') {
    io.stdout(`${PROGRAM} version ${VERSION}\n`);
    return 0;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    io.stderr(`${PROGRAM}: Command not found: ${command}\n${TRY_HELP}`);
    return 1;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(`usage: ${PROGRAM} ${entry.help}\n`);
    return 0;
  }
  try {
    return await entry.run(rest, io);
  } catch (error) {
    if (error instanceof CommandFailed) return error.exitCode;
    if (error instanceof UsageError) {
      io.stderr(`${PROGRAM}: ${error.message}\n${TRY_HELP}`);
      return 1;
    }
    // An engine error that reached here still gets one line, never a stack trace.
    if (isDiskImgError(error)) {
      io.stderr(`${PROGRAM}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
