/**
 * An output format, as data: qemu-img's name for it, its -o options (each as qemu-img spells and
 * documents it), how those options are checked (with qemu-img's messages), and how to make its
 * writer. The CLI's -o parser and --help, the page's controls and the equivalent-command builder
 * all read this record; formats/outputs.ts holds the table.
 */
import { DiskImgError } from '../../errors.ts';
import type { GuestWriter } from './guest-writer.ts';
import type { HostFile } from './host-file.ts';

export type OutputOptionType = 'bool' | 'size' | 'enum' | 'string' | 'number';

/** One -o option, as `qemu-img create -f FMT -o help` lists it. */
export interface OutputOption {
  /** The key as qemu-img spells it (cluster_size, subformat, force_size). */
  readonly key: string;
  readonly type: OutputOptionType;
  /** The default as qemu-img would print it (undefined: computed, or none). */
  readonly default?: string;
  /** For enum options: every value qemu-img takes. */
  readonly values?: readonly string[];
  /** qemu-img's help text for it. */
  readonly help: string;
}

/** Option values once parsed: on/off as booleans, sizes as byte counts, the rest as given. */
export type OutputOptionValues = ReadonlyMap<string, string | number | boolean>;

/** What a format may need to know of the output beyond its options. */
export interface OutputContext {
  /** The output file's base name (a VMDK's descriptor names its extent by it). */
  fileName?: string;
}

export interface OutputDriver<Options = unknown, Name extends string = string> {
  /** qemu-img's name (-O). */
  readonly name: Name;
  readonly title: string;
  /** The file name ending the page gives the output. */
  readonly extension: string;
  readonly options: readonly OutputOption[];
  /** Whether -c (compressed clusters) is possible. */
  readonly compression: boolean;
  /**
   * The unit of compression (a qcow2 cluster, a VMDK grain): requests are one unit each when
   * compressing, as qemu-img makes them. Default 512 (no unit).
   */
  clusterSize?(options: Options): number;
  /**
   * Whether the writer writes its file strictly front to back (VMDK streamOptimized): then a
   * sink that can only append takes it in one pass, instead of the two every other format needs.
   */
  streams?(options: Options): boolean;
  /**
   * The writer's options from the parsed -o values, checked against the virtual size as qemu-img
   * checks them at create time; throws DiskImgError('usage') with qemu-img's message.
   */
  resolve?(values: OutputOptionValues, virtualSize: number, context?: OutputContext): Options;
  /**
   * The other files the output consists of, by base name, beside it (a monolithicFlat VMDK's
   * flat extent). Such an output needs a place that holds several files: not a download stream.
   */
  companions?(options: Options): string[];
  /**
   * Creates the file's structure in `host` (and in `companions`, one per name companions gave)
   * and returns its writer. Formats converted through their own pipeline (raw, qcow2 with its
   * encryption and compressed two-pass path) have none.
   */
  create?(host: HostFile, virtualSize: number, options: Options, companions: HostFile[]): Promise<GuestWriter>;
}

const usage = (message: string, field: string, value?: string | number): never => {
  throw new DiskImgError('usage', message, { field, value });
};

const SIZE_SUFFIXES = 'Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.';
const TRUE = ['on', 'yes', 'true', 'y'];
const FALSE = ['off', 'no', 'false', 'n'];

/** qemu's QemuOpts parsing of -o: its messages for an unknown key or a value of the wrong type. */
export function parseOutputOptions(
  driver: Pick<OutputDriver, 'options'>,
  given: ReadonlyMap<string, string>,
): Map<string, string | number | boolean> {
  const out = new Map<string, string | number | boolean>();
  for (const [key, text] of given) {
    const option = driver.options.find((o) => o.key === key);
    if (!option) usage(`Invalid parameter '${key}'`, key);
    switch (option!.type) {
      case 'bool':
        // qapi_bool_parse's spellings.
        if (!TRUE.includes(text) && !FALSE.includes(text)) usage(`Parameter '${key}' expects 'on' or 'off'`, key, text);
        out.set(key, TRUE.includes(text));
        break;
      case 'size': {
        const size = parseSizeValue(text);
        if (size === undefined && /^\d+$/.test(text)) usage(`Value '${text}' is out of range for parameter '${key}'`, key, text);
        if (size === undefined) usage(`Parameter '${key}' expects a non-negative number below 2^64\n${SIZE_SUFFIXES}`, key, text);
        out.set(key, size!);
        break;
      }
      case 'number':
        if (!/^\d+$/.test(text)) usage(`Parameter '${key}' expects a number`, key, text);
        out.set(key, Number(text));
        break;
      case 'enum':
      case 'string':
        out.set(key, text);
        break;
    }
  }
  return out;
}

/**
 * The checks the format's create makes of the values (an enum's value among those it takes), with
 * qemu's message; then the format's own (resolve). qemu-img reports these as create failures.
 */
export function resolveOutputOptions<O>(
  driver: OutputDriver<O>,
  values: OutputOptionValues,
  virtualSize: number,
  context: OutputContext = {},
): O {
  for (const [key, value] of values) {
    const option = driver.options.find((o) => o.key === key);
    if (option?.type === 'enum' && !option.values!.includes(String(value)))
      usage(`Parameter '${key}' does not accept value '${value}'`, key, String(value));
  }
  return driver.resolve!(values, virtualSize, context);
}

/** A size as qemu reads it: a number with an optional k, M, G, T, P, E suffix (powers of 1024). */
export function parseSizeValue(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([bBkKmMgGtTpPeE]?)$/.exec(text.trim());
  if (!match) return undefined;
  const exponent = ' kmgtpe'.indexOf(match[2].toLowerCase() || ' ');
  const value = Number(match[1]) * 1024 ** (match[2].toLowerCase() === 'b' ? 0 : Math.max(0, exponent));
  return Number.isSafeInteger(Math.round(value)) ? Math.round(value) : undefined;
}
