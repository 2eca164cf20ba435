/**
 * A bzip2 decoder for DMG chunks ("UDBZ"): one stream into a buffer of exactly its expected size,
 * as QEMU's dmg-bz2 module demands (BZ_STREAM_END with the buffer full). Pure TypeScript, so it
 * runs in the page and in Node alike; every count a stream gives is checked before it is used,
 * and output never goes past the caller's buffer. Block CRCs are checked as libbzip2 checks them.
 *
 * The steps are bzip2's: Huffman-coded MTF/RLE2 symbols → move-to-front → inverse
 * Burrows–Wheeler transform → the initial run-length coding undone.
 */

class Bits {
  private at = 0;
  private buffer = 0;
  private count = 0;

  constructor(private readonly input: Uint8Array) {}

  read(n: number): number {
    let value = 0;
    for (let i = 0; i < n; i++) value = value * 2 + this.bit();
    return value;
  }

  bit(): number {
    if (this.count === 0) {
      if (this.at >= this.input.length) throw new Bzip2Error('the stream ends early');
      this.buffer = this.input[this.at++];
      this.count = 8;
    }
    this.count--;
    return (this.buffer >> this.count) & 1;
  }
}

export class Bzip2Error extends Error {}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    table[i] = c >>> 0;
  }
  return table;
})();

const MAX_GROUPS = 6;
const MAX_ALPHA = 258;
const MAX_CODE_LENGTH = 20;
const MAX_SELECTORS = 18002;
const GROUP_SIZE = 50;

interface Table {
  limit: Int32Array;
  base: Int32Array;
  perm: Int32Array;
  minLength: number;
}

/** Canonical Huffman decoding tables, as libbzip2's BZ2_hbCreateDecodeTables builds them. */
function decodeTable(lengths: Uint8Array, alphaSize: number): Table {
  let minLength = 32;
  let maxLength = 0;
  for (let i = 0; i < alphaSize; i++) {
    minLength = Math.min(minLength, lengths[i]);
    maxLength = Math.max(maxLength, lengths[i]);
  }
  const perm = new Int32Array(MAX_ALPHA);
  let p = 0;
  for (let length = minLength; length <= maxLength; length++) for (let i = 0; i < alphaSize; i++) if (lengths[i] === length) perm[p++] = i;
  const base = new Int32Array(MAX_CODE_LENGTH + 2);
  for (let i = 0; i < alphaSize; i++) base[lengths[i] + 1]++;
  for (let i = 1; i < base.length; i++) base[i] += base[i - 1];
  const limit = new Int32Array(MAX_CODE_LENGTH + 1).fill(-1);
  let vec = 0;
  for (let i = minLength; i <= maxLength; i++) {
    vec += base[i + 1] - base[i];
    limit[i] = vec - 1;
    vec <<= 1;
  }
  for (let i = minLength + 1; i <= maxLength; i++) base[i] = ((limit[i - 1] + 1) << 1) - base[i];
  return { limit, base, perm, minLength };
}

function decodeSymbol(bits: Bits, table: Table, alphaSize: number): number {
  let length = table.minLength;
  let code = bits.read(length);
  while (length <= MAX_CODE_LENGTH) {
    if (code <= table.limit[length]) {
      const index = code - table.base[length];
      if (index < 0 || index >= alphaSize) throw new Bzip2Error('a Huffman code is out of range');
      return table.perm[index];
    }
    code = code * 2 + bits.bit();
    length++;
  }
  throw new Bzip2Error('a Huffman code is longer than 20 bits');
}

/**
 * Decodes one bzip2 stream into `out`; throws Bzip2Error unless the stream ends exactly when
 * `out` is full (QEMU's test: BZ_STREAM_END and total_out == the chunk's size).
 */
export function bunzip2Into(input: Uint8Array, out: Uint8Array): void {
  const bits = new Bits(input);
  if (bits.read(8) !== 0x42 || bits.read(8) !== 0x5a || bits.read(8) !== 0x68) throw new Bzip2Error('no bzip2 stream header (BZh)');
  const level = bits.read(8) - 0x30;
  if (level < 1 || level > 9) throw new Bzip2Error('bad block size in the stream header');
  const blockMax = level * 100000;
  const tt = new Uint32Array(blockMax);
  let written = 0;
  let combined = 0;
  for (;;) {
    const magicHigh = bits.read(24);
    const magicLow = bits.read(24);
    if (magicHigh === 0x177245 && magicLow === 0x385090) {
      const stored = bits.read(32) >>> 0;
      if (stored !== combined >>> 0) throw new Bzip2Error('the stream CRC does not match');
      if (written !== out.length) throw new Bzip2Error(`the stream ends after ${written} of ${out.length} bytes`);
      return;
    }
    if (magicHigh !== 0x314159 || magicLow !== 0x265359) throw new Bzip2Error('bad block magic');
    const storedCrc = bits.read(32) >>> 0;
    if (bits.bit()) throw new Bzip2Error('randomised blocks are not supported');
    const origPtr = bits.read(24);
    // The symbols in use.
    const used = bits.read(16);
    const seqToUnseq = new Uint8Array(256);
    let inUse = 0;
    for (let i = 0; i < 16; i++) {
      if (!((used >> (15 - i)) & 1)) continue;
      const group = bits.read(16);
      for (let j = 0; j < 16; j++) if ((group >> (15 - j)) & 1) seqToUnseq[inUse++] = i * 16 + j;
    }
    if (inUse === 0) throw new Bzip2Error('a block uses no symbols');
    const alphaSize = inUse + 2;
    const groups = bits.read(3);
    if (groups < 2 || groups > MAX_GROUPS) throw new Bzip2Error('bad Huffman group count');
    const selectorCount = bits.read(15);
    if (selectorCount < 1) throw new Bzip2Error('no selectors');
    const selectorsMtf = new Uint8Array(Math.min(selectorCount, MAX_SELECTORS));
    for (let i = 0; i < selectorCount; i++) {
      let j = 0;
      while (bits.bit()) if (++j >= groups) throw new Bzip2Error('bad selector');
      if (i < MAX_SELECTORS) selectorsMtf[i] = j;
    }
    const order = [0, 1, 2, 3, 4, 5].slice(0, groups);
    const selectors = selectorsMtf.map((v) => {
      const g = order[v];
      order.splice(v, 1);
      order.unshift(g);
      return g;
    });
    const tables: Table[] = [];
    for (let t = 0; t < groups; t++) {
      const lengths = new Uint8Array(MAX_ALPHA);
      let current = bits.read(5);
      for (let i = 0; i < alphaSize; i++) {
        for (;;) {
          if (current < 1 || current > MAX_CODE_LENGTH) throw new Bzip2Error('bad code length');
          if (!bits.bit()) break;
          current += bits.bit() ? -1 : 1;
        }
        lengths[i] = current;
      }
      tables.push(decodeTable(lengths, alphaSize));
    }
    // MTF/RLE2 symbols → bytes of the BWT block.
    const mtf = new Uint8Array(256);
    for (let i = 0; i < 256; i++) mtf[i] = i;
    const counts = new Int32Array(256);
    const endOfBlock = inUse + 1;
    let count = 0;
    let groupIndex = -1;
    let groupLeft = 0;
    let run = 0;
    let runWeight = 1;
    for (;;) {
      if (groupLeft === 0) {
        if (++groupIndex >= selectors.length) throw new Bzip2Error('more symbol groups than selectors');
        groupLeft = GROUP_SIZE;
      }
      groupLeft--;
      const symbol = decodeSymbol(bits, tables[selectors[groupIndex]], alphaSize);
      if (symbol <= 1) {
        // RUNA / RUNB: a run of the front byte, its length in bijective base 2.
        run += (symbol + 1) * runWeight;
        runWeight *= 2;
        if (run > blockMax) throw new Bzip2Error('a run is longer than the block');
        continue;
      }
      if (run > 0) {
        if (count + run > blockMax) throw new Bzip2Error('a block is longer than its size');
        const byte = seqToUnseq[mtf[0]];
        counts[byte] += run;
        for (; run > 0; run--) tt[count++] = byte;
        runWeight = 1;
      }
      if (symbol === endOfBlock) break;
      if (count >= blockMax) throw new Bzip2Error('a block is longer than its size');
      const index = symbol - 1;
      const value = mtf[index];
      mtf.copyWithin(1, 0, index);
      mtf[0] = value;
      const byte = seqToUnseq[value];
      counts[byte]++;
      tt[count++] = byte;
    }
    if (origPtr >= count) throw new Bzip2Error('the block origin is past its end');
    // Inverse Burrows–Wheeler transform.
    const start = new Int32Array(256);
    for (let i = 0, sum = 0; i < 256; i++) {
      start[i] = sum;
      sum += counts[i];
    }
    for (let i = 0; i < count; i++) {
      const byte = tt[i] & 0xff;
      tt[start[byte]++] |= i << 8;
    }
    let position = tt[origPtr] >>> 8;
    // Undo the initial run-length coding: four equal bytes, then a count of more.
    let crc = 0xffffffff;
    let last = -1;
    let same = 0;
    const emit = (byte: number) => {
      if (written >= out.length) throw new Bzip2Error(`the stream holds more than ${out.length} bytes`);
      out[written++] = byte;
      crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ byte) & 0xff]) >>> 0;
    };
    for (let i = 0; i < count; i++) {
      const entry = tt[position];
      const byte = entry & 0xff;
      position = entry >>> 8;
      if (same === 4) {
        for (let k = 0; k < byte; k++) emit(last);
        same = 0;
        last = -1;
        continue;
      }
      if (byte === last) same++;
      else {
        last = byte;
        same = 1;
      }
      emit(byte);
    }
    const blockCrc = ~crc >>> 0;
    if (blockCrc !== storedCrc) throw new Bzip2Error('a block CRC does not match');
    combined = (((combined << 1) | (combined >>> 31)) ^ blockCrc) >>> 0;
  }
}
