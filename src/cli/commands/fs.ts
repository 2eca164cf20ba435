/**
 * diskimg fs: the files inside a guest disk's file system, as libguestfs' virt-ls, virt-cat and
 * virt-copy-out give them — any image format the engine opens, nothing booted. Inputs are only read.
 */
import { mkdir, stat, symlink } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { DiskImgError } from '../../core/errors.ts';
import { choosePartition, openFileSystem } from '../../core/filesystems/browse.ts';
import { fsZipEntries } from '../../core/filesystems/extract.ts';
import { fsEntryJson, modeString, type FileSystem, type FsEntry } from '../../core/filesystems/tree.ts';
import { zipStream } from '../../core/iso/zip.ts';
import { parseArgs } from '../args.ts';
import { type CliIO, fail, openForCommand, outputFormat, usage } from '../context.ts';
import { Secrets } from '../secrets.ts';
import { nodeCrypto } from '../../node/crypto.ts';
import { outputError, refuseInput, writeOut } from './iso.ts';

export const fsHelp =
  'fs ls [-R] [-l] [--partition N] [--volume VG/LV] [--key-secret ID --object secret,id=ID,...] [-f FMT] [--output=human|json] IMAGE [PATH] | fs cat [--partition N] [--volume VG/LV] [--key-secret ID --object secret,id=ID,...] [-f FMT] IMAGE PATH | fs extract [--partition N] [--volume VG/LV] [--key-secret ID --object secret,id=ID,...] [-f FMT] IMAGE PATH OUT (a folder: OUT.zip → a zip, else a folder tree)';

const SPECIAL = { block: 'block device', char: 'character device', fifo: 'FIFO', socket: 'socket' } as const;

function lsLine(entry: FsEntry, long: boolean): string {
  const name = entry.target !== undefined ? `${entry.path} -> ${entry.target}` : entry.path;
  if (!long) return `${name}\n`;
  const size = entry.device ? `${entry.device.major},${entry.device.minor}` : String(entry.size);
  const time = (entry.mtime ?? '').slice(0, 19).replace('T', ' ');
  const streams = entry.streams ? `  (streams: ${entry.streams.map((s) => `${s.name} ${s.size}`).join(', ')})` : '';
  return `${modeString(entry)} ${String(entry.nlink ?? 1).padStart(3)} ${String(entry.uid ?? 0).padStart(5)} ${String(entry.gid ?? 0).padStart(5)} ${size.padStart(12)} ${time.padEnd(19)} ${name}${streams}\n`;
}

async function extract(io: CliIO, fs: FileSystem, input: string, path: string, out: string, label: string): Promise<void> {
  const entry = await fs.resolve(path);
  if (entry.type === 'dir') {
    if (out.endsWith('.zip')) {
      await refuseInput(io, input, out);
      await writeOut(out, zipStream(fsZipEntries(fs, entry, label)));
      return;
    }
    const root = resolve(out);
    await mkdir(root, { recursive: true }).catch((error) => Promise.reject(outputError(out, error)));
    const prefix = entry.path === '/' ? '/' : `${entry.path}/`;
    const skipped: FsEntry[] = [];
    for await (const child of fs.walk(entry)) {
      const target = resolve(root, ...child.path.slice(prefix.length).split('/'));
      if (!target.startsWith(root + sep)) fail(io, `Refusing to write ${child.path} outside ${out}`);
      try {
        if (child.type === 'dir') await mkdir(target, { recursive: true });
        else if (child.type === 'symlink')
          await symlink(child.target ?? '', target).catch((error: NodeJS.ErrnoException) =>
            error.code === 'EEXIST' ? undefined : Promise.reject(error),
          );
        else if (child.type !== 'file') skipped.push(child);
        else await writeOut(target, fs.read(child));
      } catch (error) {
        throw outputError(target, error);
      }
    }
    for (const special of skipped)
      io.stderr(`diskimg: skipped ${special.path}: a ${SPECIAL[special.type as keyof typeof SPECIAL]} is not extracted\n`);
    return;
  }
  const isDir = await stat(out)
    .then((s) => s.isDirectory())
    .catch(() => false);
  const file = isDir ? join(out, entry.name) : out;
  await refuseInput(io, input, file);
  if (entry.type === 'symlink') await symlink(entry.target ?? '', file).catch((error) => Promise.reject(outputError(file, error)));
  else if (entry.type !== 'file')
    fail(io, `${entry.path} is a ${SPECIAL[entry.type as keyof typeof SPECIAL]}: there are no bytes to extract`);
  else await writeOut(file, fs.read(entry));
}

function partitionNumber(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9]\d{0,3}$/.test(value))
    usage(
      `--partition must be a partition number as the partition table numbers them (1, 2, …; logical MBR partitions from 5), not '${value}'`,
    );
  return Number(value);
}

export async function fs(argv: string[], io: CliIO): Promise<number> {
  const [sub, ...rest] = argv;
  const args = parseArgs(rest, {
    withValue: 'f',
    flags: 'Rlh',
    long: {
      output: { key: 'output', value: true },
      partition: { key: 'partition', value: true },
      volume: { key: 'volume', value: true },
      'key-secret': { key: 'key-secret', value: true },
      object: { key: 'object', value: true },
      format: { key: 'f', value: true },
    },
  });
  if (!['ls', 'cat', 'extract'].includes(sub ?? ''))
    usage(sub === undefined ? `Expecting an fs command: diskimg ${fsHelp}` : `Unknown fs command '${sub}': diskimg ${fsHelp}`);
  const format = outputFormat(io, args.values.get('output'));
  const partition = partitionNumber(args.values.get('partition'));
  const volume = args.values.get('volume');
  if (volume !== undefined && !/^(\/dev\/)?[^/]+\/[^/]+$|^\/dev\/mapper\/[^/]+$|^[^/]+$/.test(volume))
    usage(`--volume must name an LVM logical volume as VG/LV (or /dev/VG/LV, as virt-ls -m takes it), not '${volume}'`);
  const [file, ...more] = args.positional;
  if (!file) usage(`Expecting a disk image: diskimg ${fsHelp}`);
  if (sub === 'cat' && more.length !== 1) usage('Expecting: diskimg fs cat [--partition N] [--volume VG/LV] IMAGE PATH');
  if (sub === 'extract' && more.length !== 2) usage('Expecting: diskimg fs extract [--partition N] [--volume VG/LV] IMAGE PATH OUT');
  if (sub === 'ls' && more.length > 1) usage('Expecting: diskimg fs ls [-R] [-l] [--partition N] [--volume VG/LV] IMAGE [PATH]');
  const secrets = Secrets.fromArgs(io, args);
  const image = await openForCommand(io, file, { format: args.values.get('f') });
  try {
    const keySecret = args.values.get('key-secret');
    const unlock = keySecret === undefined ? undefined : { passphrase: secrets.get(io, keySecret, '--key-secret'), crypto: nodeCrypto() };
    const chosen = await choosePartition(image, partition, volume, unlock).catch((error: unknown) => {
      if (error instanceof DiskImgError && error.kind === 'needs-passphrase')
        throw new DiskImgError(
          error.kind,
          `${error.message}: give it with --object secret,id=ID,data=...|file=... and --key-secret ID`,
          error.context,
        );
      throw error;
    });
    const where = `${chosen.partition.type.name === 'whole disk' ? '' : ` partition ${chosen.partition.index}`}${chosen.volume ? ` volume ${chosen.volume}` : ''}`;
    const fsys = await openFileSystem(chosen.source).catch((error: unknown) => {
      if (error instanceof DiskImgError)
        throw new DiskImgError(error.kind, `${where ? `${where.trim()}: ` : ''}${error.message}`, error.context);
      throw error;
    });
    for (const warning of fsys.warnings) io.stderr(`diskimg: warning: ${file}${where}: ${warning}\n`);
    switch (sub) {
      case 'ls': {
        const entry = await fsys.resolve(more[0] ?? '/');
        const entries: FsEntry[] = [];
        if (entry.type !== 'dir') entries.push(entry);
        else if (args.flags.has('R')) for await (const e of fsys.walk(entry)) entries.push(e);
        else entries.push(...(await fsys.list(entry)));
        if (format === 'json') io.stdout(`${JSON.stringify(entries.map(fsEntryJson), null, 4)}\n`);
        else io.stdout(entries.map((e) => lsLine(e, args.flags.has('l'))).join(''));
        return 0;
      }
      case 'cat': {
        const entry = await fsys.resolve(more[0]);
        if (!io.stdoutBytes) fail(io, 'fs cat needs a byte stream for its output');
        for await (const chunk of fsys.read(entry)) await io.stdoutBytes(chunk);
        return 0;
      }
      default: {
        await extract(io, fsys, file, more[0], more[1], chosen.partition.filesystem?.label || 'root');
        return 0;
      }
    }
  } catch (error) {
    // An output error names its own file; an image error is prefixed with the image's.
    if (error instanceof DiskImgError) fail(io, error.context.field === 'output' ? error.message : `${file}: ${error.message}`);
    throw error;
  } finally {
    await image.close();
  }
}
