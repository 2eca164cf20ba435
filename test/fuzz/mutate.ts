/** Seeded mutations of an image: the kinds of damage real files and hostile ones show. */

/** A small, fast, seedable PRNG (mulberry32): the same seed gives the same campaign. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Mutation {
  name: string;
  apply(bytes: Uint8Array, random: () => number): Uint8Array;
}

const int = (random: () => number, n: number) => Math.floor(random() * n);

/**
 * Where damage matters most: a qcow2's header and first clusters hold its tables; a disc's
 * descriptors and directories start at 32 KiB. Set per mutant by `mutant`.
 */
let hotStart = 0;

function offset(bytes: Uint8Array, random: () => number, align = 1): number {
  if (random() < 0.6) {
    const end = Math.min(bytes.length, hotStart + 4096 * (1 + int(random, 8)));
    const start = Math.min(hotStart, Math.max(0, end - align));
    return Math.floor((start + int(random, Math.max(1, end - start - align))) / align) * align;
  }
  return Math.max(0, Math.floor(int(random, Math.max(1, bytes.length - align)) / align) * align);
}

const BOUNDARY_32 = [0, 1, 2, 9, 12, 21, 22, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const BOUNDARY_64 = [
  0n,
  1n,
  0x200n,
  0x10000n,
  0x7fffffffn,
  0xffffffffn,
  0x100000000n,
  1n << 40n,
  1n << 55n,
  (1n << 56n) - 512n,
  1n << 62n,
  (1n << 63n) - 1n,
  1n << 63n,
  (1n << 64n) - 1n,
];

function setBE32(bytes: Uint8Array, at: number, value: number): void {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, value >>> 0);
}
function setBE64(bytes: Uint8Array, at: number, value: bigint): void {
  new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(at, BigInt.asUintN(64, value));
}
function getBE64(bytes: Uint8Array, at: number): bigint {
  return at + 8 <= bytes.length ? new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(at) : 0n;
}

export const MUTATIONS: Mutation[] = [
  {
    name: 'bit-flip',
    apply(bytes, random) {
      const at = offset(bytes, random);
      if (at < bytes.length) bytes[at] ^= 1 << int(random, 8);
      return bytes;
    },
  },
  {
    name: 'byte-boundary',
    apply(bytes, random) {
      const at = offset(bytes, random);
      if (at < bytes.length) bytes[at] = [0, 1, 0x7f, 0x80, 0xff][int(random, 5)];
      return bytes;
    },
  },
  {
    name: 'u32-boundary',
    apply(bytes, random) {
      const at = offset(bytes, random, 4);
      if (at + 4 <= bytes.length)
        setBE32(bytes, at, random() < 0.2 ? bytes.length + int(random, 3) - 1 : BOUNDARY_32[int(random, BOUNDARY_32.length)]);
      return bytes;
    },
  },
  {
    name: 'u64-boundary',
    apply(bytes, random) {
      const at = offset(bytes, random, 8);
      if (at + 8 <= bytes.length) setBE64(bytes, at, random() < 0.2 ? BigInt(bytes.length) : BOUNDARY_64[int(random, BOUNDARY_64.length)]);
      return bytes;
    },
  },
  {
    name: 'truncate',
    apply(bytes, random) {
      return bytes.slice(0, int(random, bytes.length));
    },
  },
  {
    name: 'copy-block',
    apply(bytes, random) {
      // Cross-links tables: one table's bytes appear where another's are expected.
      const size = [8, 16, 512, 4096][int(random, 4)];
      const from = offset(bytes, random, 8);
      const to = offset(bytes, random, 8);
      if (from + size <= bytes.length && to + size <= bytes.length) bytes.copyWithin(to, from, from + size);
      return bytes;
    },
  },
  {
    name: 'point-at-metadata',
    apply(bytes, random) {
      // A table entry aimed at the header, the L1 table, the refcount table or itself: loops and overlaps.
      const targets = [0n, getBE64(bytes, 40), getBE64(bytes, 48), getBE64(bytes, 64)].filter((t) => t < BigInt(bytes.length));
      const at = offset(bytes, random, 8);
      if (at + 8 <= bytes.length) {
        const target = random() < 0.2 ? BigInt(at) : (targets[int(random, targets.length)] ?? 0n);
        const flags = [0n, 1n << 63n, 1n << 62n, 1n][int(random, 4)];
        setBE64(bytes, at, target | flags);
      }
      return bytes;
    },
  },
];

/** One mutant: a copy of the seed with 1 to 4 mutations; the names say what was done. */
export function mutant(seed: Uint8Array, random: () => number, hot = 0): { bytes: Uint8Array; applied: string[] } {
  hotStart = hot;
  let bytes: Uint8Array = seed.slice();
  const applied: string[] = [];
  for (let n = 1 + int(random, 4); n > 0; n--) {
    const mutation = MUTATIONS[int(random, MUTATIONS.length)];
    bytes = mutation.apply(bytes, random);
    applied.push(mutation.name);
  }
  return { bytes, applied };
}
