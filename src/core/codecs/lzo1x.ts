/**
 * LZO1X decompression (the instruction set Linux's Documentation/staging/lzo.rst describes), as
 * Btrfs stores its lzo-compressed extents. Every read of the input and every write and back
 * reference of the output is bounds-checked: a hostile stream ends in an error, never outside
 * its buffers and never in a loop (each instruction consumes input).
 */

export class LzoError extends Error {}

/** Decompresses `input` into `out` (which bounds the output); returns the bytes produced. */
export function lzo1xDecompress(input: Uint8Array, out: Uint8Array): number {
  let ip = 0;
  let op = 0;
  const fail = (why: string): never => {
    throw new LzoError(`${why} (input byte ${ip}, output byte ${op})`);
  };
  const next = (): number => (ip < input.length ? input[ip++] : fail('the stream ends early'));
  const literals = (count: number) => {
    if (ip + count > input.length) fail('a literal run reaches past the end of the stream');
    if (op + count > out.length) fail('a literal run reaches past the end of the output');
    out.set(input.subarray(ip, ip + count), op);
    ip += count;
    op += count;
  };
  const match = (distance: number, length: number) => {
    if (distance > op) fail(`a match refers ${distance} bytes back, before the start of the output`);
    if (op + length > out.length) fail('a match reaches past the end of the output');
    // Byte by byte: a match may overlap the bytes it is writing (a run).
    for (let i = 0; i < length; i++, op++) out[op] = out[op - distance];
  };
  /** A length whose field was 0: each zero byte adds 255, then the first non-zero byte. */
  const extended = (base: number): number => {
    let length = base;
    for (let b = next(); b === 0; b = next()) {
      length += 255;
      if (length > out.length + 255) fail('a length runs beyond the output');
    }
    return length + input[ip - 1];
  };
  const le16 = () => next() | (next() << 8);

  let state = 0;
  if (input.length > 0 && input[0] > 17) {
    const t = next() - 17;
    literals(t);
    state = t < 4 ? t : 4;
  }
  for (;;) {
    const t = next();
    let trailing: number;
    if (t < 16) {
      if (state === 0) {
        literals(3 + (t === 0 ? extended(15) : t));
        state = 4;
        continue;
      }
      const h = next();
      if (state < 4) match((h << 2) + ((t >> 2) & 3) + 1, 2);
      else match((h << 2) + ((t >> 2) & 3) + 2049, 3);
      trailing = t & 3;
    } else if (t < 32) {
      const length = 2 + ((t & 7) === 0 ? extended(7) : t & 7);
      const d = le16();
      const distance = 16384 + ((t & 8) << 11) + (d >> 2);
      if (distance === 16384) {
        if (length !== 3) fail('the end-of-stream marker has the wrong length');
        return op;
      }
      match(distance, length);
      trailing = d & 3;
    } else if (t < 64) {
      const length = 2 + ((t & 31) === 0 ? extended(31) : t & 31);
      const d = le16();
      match((d >> 2) + 1, length);
      trailing = d & 3;
    } else {
      const h = next();
      const length = t < 128 ? 3 + ((t >> 5) & 1) : 5 + ((t >> 5) & 3);
      match((h << 3) + ((t >> 2) & 7) + 1, length);
      trailing = t & 3;
    }
    literals(trailing);
    state = trailing;
  }
}
