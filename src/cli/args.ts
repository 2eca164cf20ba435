/**
 * A small getopt_long, enough for qemu-img's command lines: short flags that may be bundled
 * (-pU), short options with a value attached or separate (-fqcow2, -f qcow2), long options with
 * `=` or a separate value, and `--` to end options.
 */
export interface OptionSpec {
  /** Short letters that take a value, e.g. 'fFOo'. */
  withValue: string;
  /** Short letters that are plain flags, e.g. 'pUc'. */
  flags: string;
  /** Long names → the short letter (or name) they stand for, and whether they take a value. */
  long: Record<string, { key: string; value: boolean }>;
}

export interface ParsedArgs {
  /** Last value of each option; repeatable ones are in `all`. */
  values: Map<string, string>;
  all: Map<string, string[]>;
  flags: Set<string>;
  positional: string[];
}

export class UsageError extends Error {}

export function parseArgs(argv: readonly string[], spec: OptionSpec): ParsedArgs {
  const out: ParsedArgs = { values: new Map(), all: new Map(), flags: new Set(), positional: [] };
  const setValue = (key: string, value: string) => {
    out.values.set(key, value);
    out.all.set(key, [...(out.all.get(key) ?? []), value]);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      out.positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const option = spec.long[name];
      if (!option) throw new UsageError(`unrecognized option '${arg}'`);
      if (option.value) {
        const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
        if (value === undefined) throw new UsageError(`option '--${name}' requires an argument`);
        setValue(option.key, value);
      } else {
        if (eq >= 0) throw new UsageError(`option '--${name}' doesn't allow an argument`);
        out.flags.add(option.key);
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j];
        if (spec.withValue.includes(letter)) {
          const value = j + 1 < arg.length ? arg.slice(j + 1) : argv[++i];
          if (value === undefined) throw new UsageError(`option requires an argument -- '${letter}'`);
          setValue(letter, value);
          break;
        }
        if (!spec.flags.includes(letter)) throw new UsageError(`invalid option -- '${letter}'`);
        out.flags.add(letter);
      }
      continue;
    }
    out.positional.push(arg);
  }
  return out;
}

/** qemu_strtosz: a size with an optional binary suffix (k, M, G, T, P, E; B for bytes). */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([bBkKmMgGtTpPeE]?)$/.exec(text.trim());
  if (!match) return undefined;
  const exponent = ' kmgtpe'.indexOf(match[2].toLowerCase() || ' ');
  const value = Number(match[1]) * 1024 ** (match[2].toLowerCase() === 'b' ? 0 : Math.max(0, exponent));
  return Number.isSafeInteger(Math.round(value)) ? Math.round(value) : undefined;
}

/**
 * qemu_strtosz to a bigint: sizes reach 2^63 (a 2 MiB-cluster qcow2 maps up to 2 EiB), past a
 * double's exact integers. A fraction ("1.5G") is exact to the byte as QEMU's double is for it.
 */
export function parseSizeBig(text: string): bigint | undefined {
  const hex = /^0[xX]([0-9a-fA-F]+)$/.exec(text.trim());
  if (hex) return BigInt(`0x${hex[1]}`);
  const match = /^(\d+)(?:\.(\d+))?([bBkKmMgGtTpPeE]?)$/.exec(text.trim());
  if (!match) return undefined;
  const suffix = match[3].toLowerCase();
  const shift = BigInt(10 * Math.max(0, ' kmgtpe'.indexOf(suffix || ' ')));
  const whole = BigInt(match[1]) << shift;
  if (match[2] === undefined) return whole;
  if (suffix === '' || suffix === 'b') return undefined; // qemu_strtosz wants a unit after a fraction
  const fraction = Math.floor(Number(`0.${match[2]}`) * Number(1n << shift));
  return whole + BigInt(fraction);
}

/** -o key=value,key=value (a doubled comma stands for a comma inside a value). */
export function parseOptionList(text: string): Map<string, string> {
  const options = new Map<string, string>();
  for (const part of text.replace(/,,/g, '\u0000').split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? 'on' : part.slice(eq + 1);
    options.set(key, value.replace(/\u0000/g, ','));
  }
  return options;
}
