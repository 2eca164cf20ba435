/**
 * qemu-img's ways of naming a passphrase: `--object secret,id=ID,data=TEXT|file=PATH[,format=raw|base64]`
 * referred to by `encrypt.key-secret=ID` (in --image-opts for inputs, in -o for outputs), and
 * diskimg's shorter `--passphrase-file PATH`.
 */
import { readFileSync } from 'node:fs';
import type { Passphrase } from '../core/disk.ts';
import { parseOptionList, type OptionSpec, type ParsedArgs } from './args.ts';
import { type CliIO, fail } from './context.ts';

/** The long options every command that opens images accepts for encryption. */
export const SECRET_OPTIONS: OptionSpec['long'] = {
  object: { key: 'object', value: true },
  'image-opts': { key: 'image-opts', value: false },
  'passphrase-file': { key: 'passphrase-file', value: true },
};

export class Secrets {
  private constructor(private readonly values: Map<string, Uint8Array>) {}

  /** Reads every --object at once, as qemu-img does (a bad one fails even if unused). */
  static fromArgs(io: CliIO, args: ParsedArgs): Secrets {
    const values = new Map<string, Uint8Array>();
    for (const text of args.all.get('object') ?? []) {
      const options = parseOptionList(text);
      const [type] = [...options.keys()];
      if (type !== 'secret' || options.get(type) !== 'on')
        fail(io, `Parameter 'qom-type' does not accept value '${type === 'qom-type' ? options.get(type) : type}'`);
      options.delete('secret');
      const id = options.get('id');
      if (id === undefined) fail(io, "Parameter 'id' is missing");
      const data = options.get('data');
      const file = options.get('file');
      if (data !== undefined && file !== undefined) fail(io, "'data' and 'file' are mutually exclusive");
      if (data === undefined && file === undefined) fail(io, "Either 'file' or 'data' must be provided");
      for (const key of options.keys()) {
        if (!['id', 'data', 'file', 'format'].includes(key))
          fail(
            io,
            key === 'keyid' || key === 'iv'
              ? 'Secrets encrypted with another secret (keyid, iv) are not supported'
              : `Property 'secret.${key}' not found`,
          );
      }
      let bytes: Uint8Array;
      if (file !== undefined) {
        try {
          bytes = readFileSync(file);
        } catch (error) {
          fail(io, `Unable to read ${file}: ${(error as Error).message}`);
        }
      } else {
        bytes = new TextEncoder().encode(data);
      }
      const format = options.get('format') ?? 'raw';
      if (format === 'base64') bytes = Buffer.from(new TextDecoder().decode(bytes), 'base64');
      else if (format !== 'raw') fail(io, `Parameter 'format' does not accept value '${format}'`);
      values.set(id!, bytes!);
    }
    return new Secrets(values);
  }

  get(io: CliIO, id: string, where?: string): Uint8Array {
    const value = this.values.get(id);
    if (!value) fail(io, `${where ? `${where}: ` : ''}No secret with id '${id}'`);
    return value!;
  }
}

/** --passphrase-file: the file's bytes, less one trailing newline (so `echo pw > f` works). */
export function passphraseFile(io: CliIO, path: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    fail(io, `Unable to read ${path}: ${(error as Error).message}`);
  }
  let end = bytes!.length;
  if (end > 0 && bytes![end - 1] === 0x0a) end--;
  if (end > 0 && bytes![end - 1] === 0x0d) end--;
  return bytes!.subarray(0, end);
}

export interface ImageSpec {
  /** The file to open. */
  path: string;
  /** How messages name it: the path, or the whole option string with --image-opts (as qemu-img). */
  display: string;
  format?: string;
  /** The passphrase for its encryption, if any was named. */
  passphrase?: Passphrase;
}

/**
 * One image argument: a file name, or with --image-opts an option string such as
 * `driver=qcow2,file.filename=disk.qcow2,encrypt.key-secret=sec0` (`driver=luks,…,key-secret=sec0`).
 */
export function imageSpec(io: CliIO, args: ParsedArgs, secrets: Secrets, argument: string, format?: string): ImageSpec {
  const fallback = args.values.has('passphrase-file') ? passphraseFile(io, args.values.get('passphrase-file')!) : undefined;
  if (!args.flags.has('image-opts')) return { path: argument, display: argument, format, passphrase: fallback };
  if (format !== undefined) fail(io, '--image-opts and --format are mutually exclusive');
  const options = parseOptionList(argument);
  const spec: ImageSpec = { path: '', display: argument, passphrase: fallback };
  for (const [key, value] of options) {
    switch (key) {
      case 'driver':
        spec.format = value;
        break;
      case 'file.filename':
      case 'file':
        spec.path = value;
        break;
      case 'file.driver':
        if (value !== 'file') fail(io, `Could not open '${argument}': only file.driver=file is supported`);
        break;
      case 'encrypt.key-secret':
        spec.passphrase = secrets.get(io, value, `Could not open '${argument}'`);
        break;
      case 'key-secret':
        // The luks driver names its secret without the "encrypt." prefix.
        if (spec.format !== 'luks')
          fail(io, `Could not open '${argument}': Block format '${spec.format ?? 'qcow2'}' does not support the option '${key}'`);
        spec.passphrase = secrets.get(io, value, `Could not open '${argument}'`);
        break;
      case 'encrypt.format':
        if (value !== 'luks' && value !== 'aes')
          fail(io, `Could not open '${argument}': Parameter 'encrypt.format' does not accept value '${value}'`);
        break;
      default:
        fail(io, `Could not open '${argument}': Block format '${spec.format ?? 'qcow2'}' does not support the option '${key}'`);
    }
  }
  if (!spec.path) fail(io, `Could not open '${argument}': A block device must be specified for "filename"`);
  return spec;
}
