/** What every command gets: output streams, and opening images the way qemu-img opens them. */
import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { DiskImage, OpenOptions } from '../core/disk.ts';
import { isDiskImgError } from '../core/errors.ts';
import { openImage } from '../core/open.ts';
import { combinePath } from '../core/paths.ts';
import { nodeDecoders } from '../node/decoders.ts';
import { nodeCrypto } from '../node/crypto.ts';
import { NodeFileStorage } from '../node/file-storage.ts';
import { lockConflict } from '../node/image-locks.ts';
import type { Storage } from '../core/storage/storage.ts';
import { UsageError } from './args.ts';

export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Raw bytes to stdout (`fs cat`), resolved once they are taken (backpressure); absent where only text is collected. */
  stdoutBytes?(bytes: Uint8Array): Promise<void>;
}

export const PROGRAM = 'diskimg';

/** A failure the command has already explained; carries qemu-img's exit code. */
export class CommandFailed extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

export function fail(io: CliIO, message: string, exitCode = 1): never {
  io.stderr(`${PROGRAM}: ${message}\n`);
  throw new CommandFailed(exitCode);
}

export function usage(message: string): never {
  throw new UsageError(message);
}

/**
 * Backing files as qemu-img finds them: a relative name is relative to the directory of the image
 * that names it. `explicit` (--backing FILE, repeatable) overrides the stored names, top down.
 */
export function backingResolver(explicit: readonly string[] = []): (name: string, overlay: Storage) => Promise<Storage> {
  let depth = 0;
  return async (name, overlay) => {
    const override = explicit[depth++];
    const path = override ?? combinePath(overlay.name, name);
    return NodeFileStorage.open(path);
  };
}

export interface OpenRequest extends OpenOptions {
  backing?: readonly string[];
  /** How to name the image in messages (qemu-img uses the whole --image-opts string). */
  display?: string;
}

const PASSPHRASE_HINT =
  'give the passphrase with --passphrase-file FILE, or with --object secret,id=ID,data=...|file=... and --image-opts driver=qcow2,file.filename=FILE,encrypt.key-secret=ID';

/**
 * Fails as qemu-img does when another process holds an image this verb opens (a running VM): the
 * verbs that change an image in place call it for the image (write) and for the backing files
 * they read. `file` is the image named on the command line; `path` the one held, when another.
 */
export async function refuseIfInUse(
  io: CliIO,
  file: string,
  wants: { write?: boolean; resize?: boolean; path?: string } = {},
): Promise<void> {
  const path = wants.path ?? file;
  const reason = await lockConflict(path, wants);
  if (reason === undefined) return;
  const backing = path === file ? '' : 'Could not open backing file: ';
  fail(io, `Could not open '${file}': ${backing}${reason}\nIs another process using the image [${path}]?`);
}

/** refuseIfInUse for an opened chain: its top written, its backing files read (commit, rebase). */
export async function refuseChainInUse(io: CliIO, image: DiskImage, file: string): Promise<void> {
  try {
    await refuseIfInUse(io, file, { write: true });
    for (const layer of image.layers.slice(1)) await refuseIfInUse(io, file, { path: layer.storage.name });
  } catch (error) {
    await image.close();
    throw error;
  }
}

/** Opens `path` or fails with qemu-img's "Could not open 'path': reason". */
export async function openForCommand(io: CliIO, path: string, request: OpenRequest = {}): Promise<DiskImage> {
  let storage: NodeFileStorage | undefined;
  const { display = path, ...options } = request;
  try {
    storage = await NodeFileStorage.open(path);
    return await openImage(storage, {
      resolveBacking: backingResolver(request.backing),
      decoders: await nodeDecoders(),
      crypto: nodeCrypto(),
      ...options,
    });
  } catch (error) {
    await storage?.close();
    // qemu-img's words when no secret was given, and how to give one.
    if (isDiskImgError(error) && error.kind === 'needs-passphrase') {
      // The luks driver's option is 'key-secret', qcow2's 'encrypt.key-secret'.
      const option = error.context.field === 'key-secret' ? 'key-secret' : 'encrypt.key-secret';
      const hint =
        option === 'key-secret'
          ? PASSPHRASE_HINT.replace('driver=qcow2', 'driver=luks').replace('encrypt.key-secret', 'key-secret')
          : PASSPHRASE_HINT;
      fail(io, `Could not open '${display}': Parameter '${option}' is required for cipher (the image is encrypted: ${hint})`);
    }
    // qemu-img loads a snapshot (-l) after the open, and says so without naming the file.
    if (isDiskImgError(error) && error.context.field === 'snapshot') fail(io, error.message);
    // As qemu-img: a missing file reads "Could not open 'x': Could not open 'x': No such file…".
    if (isDiskImgError(error)) fail(io, `Could not open '${display}': ${error.message}`);
    throw error;
  }
}

/** Runs `work`, turning engine errors into one clear line with qemu-img's exit code 1. */
export async function explain<T>(io: CliIO, what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof CommandFailed || error instanceof UsageError) throw error;
    if (isDiskImgError(error)) fail(io, `${what}: ${error.message}`);
    throw error;
  }
}

/** --ova-disk N: which disk of an OVA to open (0-based); not given, the first. */
export const OVA_DISK_OPTION = { 'ova-disk': { key: 'ova-disk', value: true } } as const;

export function ovaDiskOption(values: ReadonlyMap<string, string>): number | undefined {
  const value = values.get('ova-disk');
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) usage(`--ova-disk must be a disk number (0 for the first disk), not '${value}'`);
  return Number(value);
}

export function outputFormat(io: CliIO, value: string | undefined): 'human' | 'json' {
  if (value === undefined || value === 'human') return 'human';
  if (value === 'json') return 'json';
  return fail(io, '--output must be used with human or json as argument.');
}

export const absolutePath = (path: string) => (isAbsolute(path) ? path : resolve(path));
export { dirname };

/** One file under two names (a symlink, a hard link, a ./ path): same device and inode. */
export async function sameFile(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([stat(a).catch(() => null), stat(b).catch(() => null)]);
  return sa !== null && sb !== null && sa.dev === sb.dev && sa.ino === sb.ino;
}
