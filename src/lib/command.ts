/**
 * The qemu-img command line that does what the page does, exactly: run as shown (in a folder
 * holding the image and the files it names), it makes the same disk. A passphrase never appears in
 * it: qemu-img reads it from a file the user makes (--object secret,file=…).
 */
import { changedOptions } from './format-options.ts';
import { qcow2Features, type ConvertSettings } from './outputs.ts';

export interface CommandInput {
  /** The file opened (for an OVA, the archive). */
  name: string;
  /** qemu-img's name of the format read (-f). */
  format: string;
  /** The input's encryption, when its top layer is encrypted ('luks', 'aes'). */
  encryption?: string;
  /** The disk chosen inside an OVA: qemu-img has no OVA driver, so it is taken out of the tar first. */
  ovaDisk?: string;
}

export interface CommandOutput {
  name: string;
  settings: ConvertSettings;
  /** The new qcow2 is LUKS-encrypted. */
  encrypt: boolean;
  /** The internal snapshot exported ('' for the current disk). */
  snapshotId: string;
  /** The disk is made this large (Azure's whole MiB): created first, then converted into (-n). */
  targetSize?: number;
  /** The page's new virtual size: qemu-img resize after the convert (--shrink when smaller). */
  resize?: { size: number; shrink: boolean };
}

/** Files holding the passphrases, made by the user (a secret object reads the file whole). */
export const INPUT_SECRET_FILE = 'passphrase.txt';
export const OUTPUT_SECRET_FILE = 'new-passphrase.txt';

const quote = (s: string) => (/^[\w./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
/** A value inside qemu's key=value,… syntax, where a comma is written twice. */
const optionValue = (s: string) => s.replace(/,/g, ',,');

/** The secret files the command needs, in the order it names them. */
export function secretFiles(input: CommandInput, output: CommandOutput): string[] {
  return [...(input.encryption ? [INPUT_SECRET_FILE] : []), ...(output.encrypt ? [OUTPUT_SECRET_FILE] : [])];
}

/** One line per command: taking a disk out of an OVA first, then qemu-img convert. */
export function equivalentCommand(input: CommandInput, output: CommandOutput): string {
  const lines: string[] = [];
  const source = input.ovaDisk ?? input.name;
  if (input.ovaDisk) lines.push(['tar', '-xf', quote(input.name), quote(input.ovaDisk)].join(' '));
  const s = output.settings;
  // qemu-img writes no OVA: diskimg's CLI does, with the same flags.
  const parts = s.outputFormat === 'ova' ? ['npx', 'diskimg', 'convert', '-p'] : ['qemu-img', 'convert', '-p'];
  const formatOptions = Object.entries(changedOptions(s.outputFormat, s.formatOptions)).map(
    ([key, value]) => `${key}=${optionValue(value)}`,
  );
  if (output.targetSize !== undefined) {
    // A disk larger than the source: made at its size first, then filled (-o has no effect with -n).
    lines.push(
      [
        'qemu-img',
        'create',
        '-q',
        '-f',
        s.outputFormat,
        ...(formatOptions.length ? ['-o', formatOptions.join(',')] : []),
        quote(output.name),
        String(output.targetSize),
      ].join(' '),
    );
    parts.push('-n');
  }
  const inputSecret = input.encryption ? 'sec0' : undefined;
  const outputSecret = output.encrypt ? (inputSecret ? 'sec1' : 'sec0') : undefined;
  if (inputSecret) parts.push('--object', `secret,id=${inputSecret},file=${optionValue(INPUT_SECRET_FILE)}`);
  if (outputSecret) parts.push('--object', `secret,id=${outputSecret},file=${optionValue(OUTPUT_SECRET_FILE)}`);
  if (inputSecret) {
    // An encrypted input is opened with its options spelled out: the key secret is one of them.
    parts.push('--image-opts');
  } else {
    parts.push('-f', input.format);
  }
  if (output.snapshotId) parts.push('-l', `snapshot.id=${output.snapshotId}`);
  parts.push('-O', s.outputFormat);
  if (s.outputFormat !== 'qcow2' && output.targetSize === undefined && formatOptions.length) parts.push('-o', formatOptions.join(','));
  if (s.outputFormat === 'qcow2') {
    if (s.compression !== 'none') parts.push('-c');
    const options: string[] = [];
    if (s.clusterSize !== 65536) options.push(`cluster_size=${s.clusterSize}`);
    if (s.compat !== '1.1') options.push(`compat=${s.compat}`);
    const features = qcow2Features(s);
    if (features.refcountBits !== 16) options.push(`refcount_bits=${features.refcountBits}`);
    if (features.lazyRefcounts) options.push('lazy_refcounts=on');
    if (s.compression === 'zstd') options.push('compression_type=zstd');
    if (outputSecret && s.compression === 'none') options.push('encrypt.format=luks', `encrypt.key-secret=${outputSecret}`);
    if (options.length) parts.push('-o', options.join(','));
  }
  if (inputSecret) {
    const key = input.format === 'luks' ? 'key-secret' : 'encrypt.key-secret';
    parts.push(quote(`driver=${input.format},file.filename=${optionValue(source)},${key}=${inputSecret}`));
  } else {
    parts.push(quote(source));
  }
  parts.push(quote(output.name));
  lines.push(output.resize ? `${parts.join(' ')} && ${resizeCommand(output, outputSecret)}` : parts.join(' '));
  return lines.join('\n');
}

/** qemu-img resize of the converted file; an encrypted qcow2 opens only with its key. */
function resizeCommand(output: CommandOutput, secret: string | undefined): string {
  const { size, shrink } = output.resize!;
  const parts = ['qemu-img', 'resize', ...(shrink ? ['--shrink'] : [])];
  if (secret) {
    parts.push('--object', `secret,id=${secret},file=${optionValue(OUTPUT_SECRET_FILE)}`, '--image-opts');
    parts.push(quote(`driver=qcow2,file.filename=${optionValue(output.name)},encrypt.key-secret=${secret}`));
  } else {
    parts.push('-f', output.settings.outputFormat, quote(output.name));
  }
  parts.push(String(size));
  return parts.join(' ');
}

/**
 * The page writes a new file where qemu-img snapshot changes its image in place: the same result
 * is a copy, then the in-place verb on the copy.
 */
export function snapshotCommand(input: string, output: string, action: 'create' | 'delete', name: string): string {
  return `cp ${quote(input)} ${quote(output)} && qemu-img snapshot ${action === 'create' ? '-c' : '-d'} ${quote(name)} ${quote(output)}`;
}

/** What the page's amend changes: qemu-img amend -o's options, and a key slot added or removed. */
export interface AmendChoice {
  compat?: '0.10' | '1.1';
  lazyRefcounts?: boolean;
  refcountBits?: number;
  keySlot?: 'add' | 'remove';
}

/** `cp` then qemu-img amend on the copy: the page's amend into a new file, as a command. */
export function amendCopyCommand(input: string, output: string, choice: AmendChoice): string {
  const options: string[] = [];
  if (choice.compat) options.push(`compat=${choice.compat}`);
  if (choice.lazyRefcounts !== undefined) options.push(`lazy_refcounts=${choice.lazyRefcounts ? 'on' : 'off'}`);
  if (choice.refcountBits !== undefined) options.push(`refcount_bits=${choice.refcountBits}`);
  const parts = ['qemu-img', 'amend'];
  let target = quote(output);
  if (choice.keySlot) {
    // The image opens with its passphrase; the one added or removed is the new file's.
    parts.push('--object', `secret,id=sec0,file=${optionValue(INPUT_SECRET_FILE)}`);
    if (choice.keySlot === 'add') {
      parts.push('--object', `secret,id=sec1,file=${optionValue(OUTPUT_SECRET_FILE)}`);
      options.push('encrypt.state=active', 'encrypt.new-secret=sec1');
    } else {
      parts.push('--object', `secret,id=sec1,file=${optionValue('old-passphrase.txt')}`);
      options.push('encrypt.state=inactive', 'encrypt.old-secret=sec1');
    }
    parts.push('--image-opts');
    target = quote(`driver=qcow2,file.filename=${optionValue(output)},encrypt.key-secret=sec0`);
  } else parts.push('-f', 'qcow2');
  parts.push('-o', options.join(','), target);
  return `cp ${quote(input)} ${quote(output)} && ${parts.join(' ')}`;
}

/** One layer of a backing chain, as the commands name it. */
export interface ChainFile {
  name: string;
  format: string;
}

const stem = (name: string) => (name.lastIndexOf('.') > 0 ? name.slice(0, name.lastIndexOf('.')) : name);
const ending = (name: string) => (name.lastIndexOf('.') > 0 ? name.slice(name.lastIndexOf('.')) : '');

/**
 * The chain merged into one new file with qemu-img commit, which writes an overlay into its
 * backing file in place: on copies, each rebased (-u) onto the copy below, then committed top
 * down, so the copy of the bottom file ends up holding the whole disk (in the bottom's format).
 * Undefined where the copies cannot be rebased this way (a layer above the bottom that is not qcow2).
 */
export function commitCommands(chain: readonly ChainFile[]): { commands: string; output: string } | undefined {
  if (chain.length < 2 || chain.slice(0, -1).some((layer) => layer.format !== 'qcow2')) return undefined;
  const bottom = chain[chain.length - 1];
  const output = `${stem(chain[0].name)}-merged${ending(bottom.name)}`;
  const copies = chain.slice(0, -1).map((layer) => `${stem(layer.name)}-commit${ending(layer.name)}`);
  const lines = [`cp ${quote(bottom.name)} ${quote(output)}`];
  for (let i = chain.length - 2; i >= 0; i--) {
    const below = i === chain.length - 2 ? output : copies[i + 1];
    lines.push(
      `cp ${quote(chain[i].name)} ${quote(copies[i])} && qemu-img rebase -u -f qcow2 -b ${quote(below)} -F ${chain[i + 1].format} ${quote(copies[i])}`,
    );
  }
  lines.push(copies.map((copy) => `qemu-img commit -q -f qcow2 ${quote(copy)}`).join(' && '));
  lines.push(`rm ${copies.map(quote).join(' ')}`);
  return { commands: lines.join('\n'), output };
}

/** qemu-img amend on a copy: the in-place way to the qcow2 options chosen, which keeps internal snapshots. */
export function amendCommand(input: string, output: string, settings: ConvertSettings): string {
  const { refcountBits, lazyRefcounts } = qcow2Features(settings);
  const options = `compat=${settings.compat},refcount_bits=${refcountBits},lazy_refcounts=${lazyRefcounts ? 'on' : 'off'}`;
  return `cp ${quote(input)} ${quote(output)} && qemu-img amend -f qcow2 -o ${options} ${quote(output)}`;
}
