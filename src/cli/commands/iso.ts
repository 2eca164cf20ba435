/**
 * diskimg iso: what xorriso, isoinfo and 7-Zip tell about a disc image — info, ls, extract and
 * checksum — from the engine's disc reader. Inputs are only read.
 */
import { mkdir, open, readFile, rm, stat, symlink } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { DiskImgError } from '../../core/errors.ts';
import { checksums, verifySums, type HashName } from '../../core/iso/checksums.ts';
import { Disc, type TreeKind } from '../../core/iso/disc.ts';
import { zipEntries } from '../../core/iso/extract.ts';
import { discInfo, entryJson, zisofsSummary, type DiscInfo } from '../../core/iso/info.ts';
import type { DiscEntry } from '../../core/iso/types.ts';
import { zipStream } from '../../core/iso/zip.ts';
import { nodeHashers } from '../../node/hashers.ts';
import { NodeFileStorage } from '../../node/file-storage.ts';
import { parseArgs } from '../args.ts';
import { type CliIO, fail, outputFormat, usage } from '../context.ts';

export const isoHelp =
  'iso info [--output=human|json] FILE | iso ls [-R] [-l] [--names=udf|rock-ridge|joliet|iso9660] [--output=human|json] FILE [PATH] | iso extract [--names=…] FILE PATH OUT (a folder: OUT.zip → a zip, else a folder tree) | iso checksum [--sha256] [--sha1] [--md5] [--check SUMSFILE] FILE';

const TREE_KINDS: readonly TreeKind[] = ['udf', 'rock-ridge', 'joliet', 'iso9660'];

async function openDisc(io: CliIO, path: string, names: TreeKind | undefined): Promise<Disc> {
  const storage = await NodeFileStorage.open(path).catch((error: DiskImgError) => fail(io, error.message));
  try {
    return await Disc.open(storage, { names });
  } catch (error) {
    await storage.close();
    if (error instanceof DiskImgError) fail(io, `${path}: ${error.message}`);
    throw error;
  }
}

const NAMES = { 'rock-ridge': 'Rock Ridge', joliet: 'Joliet', iso9660: 'ISO 9660', udf: 'UDF' } as const;

function infoHuman(info: DiscInfo): string {
  const row = (label: string, value: string | number | null) =>
    `${`${label}:`.padEnd(24)}${value === null || value === '' ? '-' : value}\n`;
  const systems = [
    info['available-names'].includes('iso9660') ? (info['iso9660-1999'] ? 'ISO 9660:1999' : 'ISO 9660') : '',
    info['rock-ridge'] ? `Rock Ridge (${info['rock-ridge']})` : '',
    info.joliet ? `Joliet level ${info['joliet-level']}` : '',
    info.udf ? `UDF ${info.udf}` : '',
  ].filter(Boolean);
  let out =
    row('Volume id', info['volume-id']) +
    row('System id', info['system-id']) +
    row('Volume set id', info['volume-set-id']) +
    row('Publisher id', info['publisher-id']) +
    row('Data preparer id', info['preparer-id']) +
    row('Application id', info['application-id']) +
    row('Copyright file id', info['copyright-file-id']) +
    row('Volume size', `${info['volume-size']} bytes (${info['volume-size'] / info['block-size']} blocks of ${info['block-size']})`) +
    row('Image size', `${info['image-size']} bytes`) +
    truncatedRows(info) +
    row('Creation date', info['creation-date']) +
    row('Modification date', info['modification-date']) +
    row('Expiration date', info['expiration-date']) +
    row('Effective date', info['effective-date']) +
    row('File systems', systems.join(', ')) +
    row('Names from', NAMES[info.names]) +
    zisofsRows(info);
  const udf = info['udf-volume'];
  if (udf) {
    out +=
      row('UDF logical volume id', udf['logical-volume-id']) +
      row('UDF volume set id', udf['volume-set-id']) +
      row('UDF file set id', udf['file-set-id']) +
      row('UDF recorded', udf['recording-date']) +
      row('UDF made by', [udf['application-id'], udf['implementation-id']].filter(Boolean).join(', ')) +
      row('UDF partitions', udf.partitions.map((p) => `${p.kind} ${p.number} at byte ${p.start} (${p.length} bytes)`).join('; '));
  }
  if (info['udf-error']) out += row('UDF not readable', info['udf-error']);
  const tables = info['path-tables'];
  if (tables)
    out += row(
      'Path tables',
      `${tables.size} bytes, ${tables.directories} directories${tables.problems.length ? `; ${tables.problems.join('; ')}` : ', consistent'}`,
    );
  const boot = info['el-torito'];
  if (boot) {
    out += `El Torito boot catalog at byte ${boot['catalog-offset']}:\n`;
    boot.entries.forEach((e, i) => {
      out += `  [${i}] ${e.platform}, emulation ${e.emulation}, ${e.bootable ? 'bootable' : 'not bootable'}, ${e['load-size']} bytes at byte ${e.offset}${e.path ? ` (${e.path})` : ''}, ${e['sector-count']} sectors loaded, load segment 0x${e['load-segment'].toString(16).padStart(4, '0')}\n`;
    });
    for (const warning of boot.warnings ?? []) out += `  WARNING: ${warning}\n`;
  } else out += row('El Torito', 'no boot catalog');
  if (info.partitions.length > 0) {
    out += 'Partitions in the system area:\n';
    for (const p of info.partitions)
      out += `  ${p.scheme.toUpperCase()} [${p.index}] ${p.type.name}${p.type.code ? ` (${p.type.code})` : p.type.guid ? ` (${p.type.guid})` : ''}, start ${p.start}, size ${p.size}${p.name ? `, name ${p.name}` : ''}${p.filesystem ? `, ${p.filesystem.type}` : ''}${p.appended ? ', appended' : ''}\n`;
  }
  return out;
}

const KIND_LETTERS: Record<DiscEntry['type'], string> = {
  file: '-',
  dir: 'd',
  symlink: 'l',
  block: 'b',
  char: 'c',
  fifo: 'p',
  socket: 's',
};

/** Files stored zisofs-compressed: how many, their bytes on the disc and decompressed, the first paths. */
function zisofsRows(info: DiscInfo): string {
  const z = info.zisofs;
  if (!z) return '';
  const more = z.complete ? '' : ' or more';
  let out = `${'zisofs files:'.padEnd(24)}${z.files}${more} (${z['stored-bytes']} bytes stored, ${z['decompressed-bytes']} decompressed)\n`;
  for (const path of z.examples) out += `  ${path}\n`;
  if (z.files > z.examples.length) out += `  … and ${z.files - z.examples.length}${more} more\n`;
  return out;
}

/** A truncated image: how much is missing and which files lose data (the first names, then a count). */
function truncatedRows(info: DiscInfo): string {
  const t = info.truncated;
  if (!t) return '';
  const more = t['file-count'] - t.files.length;
  const count = `${t['file-count']}${t.complete ? '' : ' or more'} file${t['file-count'] === 1 ? '' : 's'}`;
  let out = `WARNING: the image is truncated: ${t['missing-bytes']} bytes of its ${t['volume-size']}-byte volume are missing; ${count} lose data${t.stopped ? ` (search stopped: ${t.stopped})` : ''}\n`;
  for (const file of t.files) out += `  ${file}\n`;
  if (more > 0) out += `  … and ${more} more\n`;
  return out;
}

function modeString(entry: DiscEntry): string {
  const kind = KIND_LETTERS[entry.type];
  const mode = entry.mode ?? (entry.type === 'dir' ? 0o555 : 0o444);
  let bits = '';
  for (let shift = 6; shift >= 0; shift -= 3)
    bits += `${mode & (4 << shift) ? 'r' : '-'}${mode & (2 << shift) ? 'w' : '-'}${mode & (1 << shift) ? 'x' : '-'}`;
  return kind + bits;
}

/** ls -l's columns (a device shows "major,minor" where a file shows its size, as xorriso does); a zisofs file says so and how much the disc holds. */
function lsLine(entry: DiscEntry, long: boolean): string {
  const name = entry.target !== undefined ? `${entry.path} -> ${entry.target}` : entry.path;
  if (!long) return `${name}\n`;
  const size = entry.device ? `${entry.device.major},${entry.device.minor}` : String(entry.size);
  const zisofs = entry.zisofs ? `  (${entry.zisofs.version === 2 ? 'zisofs2' : 'zisofs'}, ${entry.zisofs.stored} bytes stored)` : '';
  return `${modeString(entry)} ${String(entry.nlink ?? 1).padStart(3)} ${String(entry.uid ?? 0).padStart(5)} ${String(entry.gid ?? 0).padStart(5)} ${size.padStart(12)} ${(entry.modified ?? '').slice(0, 19).replace('T', ' ').padEnd(19)} ${name}${zisofs}\n`;
}

/** A Node file-system error as the engine's one-line I/O error, naming the output. */
export function outputError(file: string, error: unknown): DiskImgError {
  if (error instanceof DiskImgError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const reason =
    code === 'ENOENT'
      ? 'No such file or directory'
      : code === 'EACCES' || code === 'EPERM'
        ? 'Permission denied'
        : code === 'ENOSPC'
          ? 'No space left on device'
          : code === 'EISDIR'
            ? 'Is a directory'
            : code === 'EEXIST'
              ? 'File exists'
              : String((error as Error).message);
  return new DiskImgError('io', `Could not write '${file}': ${reason}`, { file, field: 'output', value: code ?? 'error' });
}

/** Writes `chunks` to a new file in order; on any failure the partial file is removed. */
export async function writeOut(file: string, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  const handle = await open(file, 'w').catch((error) => Promise.reject(outputError(file, error)));
  try {
    for await (const chunk of chunks) await handle.write(chunk);
    await handle.close();
  } catch (error) {
    await handle.close().catch(() => {});
    await rm(file, { force: true });
    throw outputError(file, error);
  }
}

/** The output must not be the disc being read (writing would destroy what is being read). */
export async function refuseInput(io: CliIO, input: string, out: string): Promise<void> {
  const [a, b] = await Promise.all([stat(input).catch(() => null), stat(out).catch(() => null)]);
  if (a && b && a.dev === b.dev && a.ino === b.ino) fail(io, `Refusing to write over the input: ${out} is ${input}`);
}

const SPECIAL_NAMES = { block: 'block device', char: 'character device', fifo: 'FIFO', socket: 'socket' } as const;

async function extract(io: CliIO, disc: Disc, input: string, path: string, out: string): Promise<void> {
  const entry = await disc.resolve(path);
  if (entry.type === 'dir') {
    if (out.endsWith('.zip')) {
      await refuseInput(io, input, out);
      await writeOut(out, zipStream(zipEntries(disc, entry)));
      return;
    }
    // A folder tree, as osirrox -extract makes one; names that would escape OUT are refused.
    const root = resolve(out);
    await mkdir(root, { recursive: true }).catch((error) => Promise.reject(outputError(out, error)));
    const prefix = entry.path === '/' ? '/' : `${entry.path}/`;
    // Devices, FIFOs and sockets are not created (that needs root and means nothing off the disc's system): each is named on stderr.
    const skipped: DiscEntry[] = [];
    for await (const child of disc.walk(entry)) {
      const target = resolve(root, ...child.path.slice(prefix.length).split('/'));
      if (!target.startsWith(root + sep)) fail(io, `Refusing to write ${child.path} outside ${out}`);
      try {
        if (child.type === 'dir') await mkdir(target, { recursive: true });
        else if (child.type === 'symlink')
          await symlink(child.target ?? '', target).catch((error: NodeJS.ErrnoException) =>
            error.code === 'EEXIST' ? undefined : Promise.reject(error),
          );
        else if (child.type !== 'file') skipped.push(child);
        else await writeOut(target, disc.read(child));
      } catch (error) {
        throw outputError(target, error);
      }
    }
    for (const special of skipped)
      io.stderr(`diskimg: skipped ${special.path}: a ${SPECIAL_NAMES[special.type as keyof typeof SPECIAL_NAMES]} is not extracted\n`);
    return;
  }
  const isDir = await stat(out)
    .then((s) => s.isDirectory())
    .catch(() => false);
  const file = isDir ? join(out, entry.name) : out;
  await refuseInput(io, input, file);
  if (entry.type === 'symlink') await symlink(entry.target ?? '', file).catch((error) => Promise.reject(outputError(file, error)));
  else if (entry.type !== 'file')
    fail(io, `${entry.path} is a ${SPECIAL_NAMES[entry.type as keyof typeof SPECIAL_NAMES]}: there are no bytes to extract`);
  else await writeOut(file, disc.read(entry));
}

export async function iso(argv: string[], io: CliIO): Promise<number> {
  const [sub, ...rest] = argv;
  const args = parseArgs(rest, {
    withValue: '',
    flags: 'Rlh',
    long: {
      output: { key: 'output', value: true },
      names: { key: 'names', value: true },
      sha256: { key: 'sha256', value: false },
      sha1: { key: 'sha1', value: false },
      md5: { key: 'md5', value: false },
      check: { key: 'check', value: true },
    },
  });
  const format = outputFormat(io, args.values.get('output'));
  if (!['info', 'ls', 'extract', 'checksum'].includes(sub ?? ''))
    usage(sub === undefined ? `Expecting an iso command: diskimg ${isoHelp}` : `Unknown iso command '${sub}': diskimg ${isoHelp}`);
  const names = args.values.get('names') as TreeKind | undefined;
  if (names !== undefined && !TREE_KINDS.includes(names)) usage(`--names must be one of ${TREE_KINDS.join(', ')}`);
  const [file, ...more] = args.positional;
  if (!file) usage(`Expecting a disc image: diskimg ${isoHelp}`);
  if (sub === 'checksum') {
    const storage = await NodeFileStorage.open(file).catch((error: DiskImgError) => fail(io, error.message));
    try {
      let names = (['sha256', 'sha1', 'md5'] as HashName[]).filter((n) => args.flags.has(n));
      if (names.length === 0) names = ['sha256'];
      const sums = await checksums(storage, names, nodeHashers);
      const check = args.values.get('check');
      if (check !== undefined) {
        const text = await readFile(check, 'utf8').catch((error: NodeJS.ErrnoException) =>
          fail(io, `Could not read '${check}': ${error.code === 'ENOENT' ? 'No such file or directory' : error.message}`),
        );
        const name = file.split(/[\\/]/).pop()!;
        const verdict = verifySums(text, name, {
          ...sums,
          ...(await checksums(
            storage,
            (['sha256', 'sha1', 'md5'] as HashName[]).filter((n) => !(n in sums)),
            nodeHashers,
          )),
        });
        if (verdict.status === 'not-listed') fail(io, `${name} is not listed in ${check}`, 2);
        io.stdout(`${name}: ${verdict.status === 'match' ? 'OK' : 'FAILED'} (${verdict.algorithm})\n`);
        return verdict.status === 'match' ? 0 : 1;
      }
      if (format === 'json') io.stdout(`${JSON.stringify(sums, null, 4)}\n`);
      else for (const name of names) io.stdout(`${sums[name]}  ${file}\n`);
      return 0;
    } finally {
      await storage.close();
    }
  }
  const disc = await openDisc(io, file, names);
  try {
    switch (sub) {
      case 'info': {
        const info = discInfo(disc);
        const zisofs = await zisofsSummary(disc);
        if (zisofs) info.zisofs = zisofs;
        io.stdout(format === 'json' ? `${JSON.stringify(info, null, 4)}\n` : infoHuman(info));
        return 0;
      }
      case 'ls': {
        const entry = await disc.resolve(more[0] ?? '/');
        const entries: DiscEntry[] = [];
        if (entry.type !== 'dir') entries.push(entry);
        else if (args.flags.has('R')) for await (const e of disc.walk(entry)) entries.push(e);
        else entries.push(...(await disc.tree.list(entry)));
        if (format === 'json') io.stdout(`${JSON.stringify(entries.map(entryJson), null, 4)}\n`);
        else io.stdout(entries.map((e) => lsLine(e, args.flags.has('l'))).join(''));
        return 0;
      }
      case 'extract': {
        if (more.length !== 2) usage('Expecting: diskimg iso extract FILE PATH OUT');
        await extract(io, disc, file, more[0], more[1]);
        return 0;
      }
      default:
        return usage(`Unknown iso command '${sub}': diskimg ${isoHelp}`);
    }
  } catch (error) {
    // An output error names its own file; a disc error is prefixed with the disc's.
    if (error instanceof DiskImgError) fail(io, error.context.field === 'output' ? error.message : `${file}: ${error.message}`);
    throw error;
  } finally {
    await disc.storage.close?.();
  }
}
