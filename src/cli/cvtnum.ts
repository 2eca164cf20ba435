/** qemu-img's cvtnum_full: a size argument, with its two messages (the syntax, then the range). */
import { parseSizeBig } from './args.ts';
import { type CliIO, fail } from './context.ts';

export const INT64_MAX = (1n << 63n) - 1n;

export function cvtnum(io: CliIO, name: string, text: string, min = 0n, max = INT64_MAX): bigint {
  const value = parseSizeBig(text);
  if (value === undefined)
    fail(
      io,
      `Invalid ${name} specified. You may use k, M, G, T, P or E suffixes for\ndiskimg: kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.`,
    );
  if (value! < min || value! > max) fail(io, `Invalid ${name} specified. Must be between ${min} and ${max}.`);
  return value!;
}
