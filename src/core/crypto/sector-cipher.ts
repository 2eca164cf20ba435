/**
 * Disk-sector encryption as QEMU's crypto/block.c applies it: every 512-byte sector is enciphered
 * on its own, with an IV made from its sector number (IV generators plain, plain64, essiv:HASH)
 * and a block mode (ecb, cbc, ctr, xts). Everything is done in batches over many sectors with the
 * raw AES block function, so a native ECB (Node) speeds up every mode alike: XTS tweaks and CTR
 * counters are laid out for a whole batch and enciphered in one call; CBC encryption, serial
 * within a sector, runs sector-parallel (block j of every sector in one call).
 */
import { DiskImgError } from '../errors.ts';
import { digestLength, hashParts, type HashAlg } from './hash.ts';
import type { BlockCipher, CryptoProvider } from './provider.ts';

export const SECTOR = 512;
const BLOCK = 16;

export type CipherMode = 'ecb' | 'cbc' | 'xts' | 'ctr';
export type IvGenAlg = 'plain' | 'plain64' | 'essiv';
/** QEMU's names (QCryptoCipherAlgorithm); only AES can be used, the others are named to refuse them. */
export type CipherAlg =
  | 'aes-128'
  | 'aes-192'
  | 'aes-256'
  | 'cast5-128'
  | 'serpent-128'
  | 'serpent-192'
  | 'serpent-256'
  | 'twofish-128'
  | 'twofish-192'
  | 'twofish-256';

export const CIPHER_MODES: readonly CipherMode[] = ['ecb', 'cbc', 'xts', 'ctr'];
export const IVGEN_ALGS: readonly IvGenAlg[] = ['plain', 'plain64', 'essiv'];

export interface CipherSpec {
  alg: CipherAlg;
  mode: CipherMode;
  ivgen: IvGenAlg;
  /** essiv only: the hash of the key that keys the IV cipher. */
  ivgenHash?: HashAlg;
  /** essiv only: the IV cipher (AES with a key as long as the digest, dm-crypt's rule). */
  ivgenAlg?: CipherAlg;
}

/** Key bytes of one cipher algorithm (XTS takes two keys). */
export function cipherKeyLength(alg: CipherAlg): number {
  return Number(alg.slice(alg.lastIndexOf('-') + 1)) / 8;
}

export const isAes = (alg: CipherAlg): boolean => alg.startsWith('aes-');

/** qcrypto_block_luks_essiv_cipher: the cipher whose key length equals the digest length. */
export function essivCipher(alg: CipherAlg, hash: HashAlg): CipherAlg {
  const digest = digestLength(hash);
  if (digest === cipherKeyLength(alg)) return alg;
  const family = alg.slice(0, alg.indexOf('-'));
  const candidate = `${family}-${digest * 8}` as CipherAlg;
  if (family !== 'cast5' && [16, 24, 32].includes(digest)) return candidate;
  const names: Record<string, string> = { aes: 'AES', serpent: 'Serpent', twofish: 'Twofish' };
  if (names[family])
    throw new DiskImgError('unsupported', `No ${names[family]} cipher with key size ${digest} available`, {
      field: 'ivgen-hash-alg',
      value: hash,
    });
  throw new DiskImgError('unsupported', `Cipher ${alg} not supported with essiv`, { field: 'cipher-alg', value: alg });
}

/** Refuses what diskimg cannot compute, by name. */
export function requireSupported(spec: CipherSpec): void {
  if (!isAes(spec.alg)) {
    throw new DiskImgError(
      'unsupported',
      `Cipher algorithm ${spec.alg} is not supported by diskimg (only aes-128, aes-192 and aes-256 are); decrypt the image with qemu-img first`,
      { field: 'cipher-alg', value: spec.alg },
    );
  }
}

/** Enciphers whole 512-byte sectors in place; `sector` numbers the first one. */
export interface SectorCipher {
  encrypt(data: Uint8Array, sector: number): void;
  decrypt(data: Uint8Array, sector: number): void;
}

/** Scratch buffers, reused across calls (the work is synchronous). */
class Scratch {
  private buffer = new Uint8Array(0);
  get(length: number): Uint8Array {
    if (this.buffer.length < length) this.buffer = new Uint8Array(Math.max(length, this.buffer.length * 2));
    return this.buffer.subarray(0, length);
  }
}

const words = (bytes: Uint8Array) => new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);

/** a ^= b, as words (both 4-aligned, same length). */
function xorWords(a: Uint32Array, b: Uint32Array): void {
  for (let i = 0; i < a.length; i++) a[i] ^= b[i];
}

/**
 * `sectorSize`: the unit each IV covers — 512 everywhere but LUKS2 volumes made with a larger
 * `--sector-size`, where each such sector is enciphered as one unit (its IV given by the caller).
 */
export function createSectorCipher(spec: CipherSpec, key: Uint8Array, provider: CryptoProvider, sectorSize = SECTOR): SectorCipher {
  const UNIT = sectorSize;
  const BLOCKS_PER_UNIT = UNIT / BLOCK;
  requireSupported(spec);
  const keyLength = cipherKeyLength(spec.alg) * (spec.mode === 'xts' ? 2 : 1);
  if (key.length !== keyLength)
    throw new DiskImgError('invalid-format', `Key length ${key.length} does not fit ${spec.alg}-${spec.mode}`, {
      field: 'key_bytes',
      value: key.length,
    });
  const half = cipherKeyLength(spec.alg);
  const data = provider.aes(spec.mode === 'xts' ? key.subarray(0, half) : key);
  const tweak = spec.mode === 'xts' ? provider.aes(key.subarray(half)) : undefined;
  let essiv: BlockCipher | undefined;
  if (spec.ivgen === 'essiv') {
    if (!spec.ivgenHash) throw new DiskImgError('invalid-format', 'Missing IV generator hash specification', { field: 'cipher_mode' });
    const ivAlg = spec.ivgenAlg ?? essivCipher(spec.alg, spec.ivgenHash);
    essiv = provider.aes(hashParts(spec.ivgenHash, key).subarray(0, cipherKeyLength(ivAlg)));
  }
  const ivScratch = new Scratch();
  const bigScratch = new Scratch();
  const laneScratch = new Scratch();

  /** The IV of each sector, 16 bytes apiece (qcrypto_ivgen_calculate). */
  function ivs(sector: number, count: number): Uint8Array {
    const out = ivScratch.get(count * BLOCK);
    out.fill(0);
    const v = new DataView(out.buffer, out.byteOffset, out.length);
    for (let i = 0; i < count; i++) {
      const s = sector + i;
      v.setUint32(i * BLOCK, s >>> 0, true);
      if (spec.ivgen !== 'plain') v.setUint32(i * BLOCK + 4, Math.floor(s / 0x1_0000_0000) >>> 0, true);
    }
    essiv?.encrypt(out);
    return out;
  }

  /** XTS tweaks for every block: T(j) = E_K2(IV) · α^j in GF(2^128), little-endian. */
  function xtsTweaks(sector: number, count: number): Uint32Array {
    const initial = ivs(sector, count);
    tweak!.encrypt(initial);
    const t0 = words(initial);
    const out = words(bigScratch.get(count * UNIT));
    for (let s = 0; s < count; s++) {
      let w0 = t0[s * 4],
        w1 = t0[s * 4 + 1],
        w2 = t0[s * 4 + 2],
        w3 = t0[s * 4 + 3];
      for (let j = 0, at = s * (UNIT / 4); j < BLOCKS_PER_UNIT; j++, at += 4) {
        out[at] = w0;
        out[at + 1] = w1;
        out[at + 2] = w2;
        out[at + 3] = w3;
        const carry = w3 >>> 31;
        w3 = (w3 << 1) | (w2 >>> 31);
        w2 = (w2 << 1) | (w1 >>> 31);
        w1 = (w1 << 1) | (w0 >>> 31);
        w0 = (w0 << 1) ^ (carry * 0x87);
      }
    }
    return out;
  }

  /** CTR keystream: each sector counts up from its IV as a 128-bit big-endian number. */
  function ctrStream(sector: number, count: number): Uint8Array {
    const start = ivs(sector, count);
    const out = bigScratch.get(count * UNIT);
    for (let s = 0; s < count; s++) {
      const counter = start.slice(s * BLOCK, (s + 1) * BLOCK);
      for (let j = 0; j < BLOCKS_PER_UNIT; j++) {
        out.set(counter, s * UNIT + j * BLOCK);
        for (let b = BLOCK - 1; b >= 0 && ++counter[b] === 256; b--) counter[b] = 0;
      }
    }
    data.encrypt(out);
    return out;
  }

  function run(buffer: Uint8Array, sector: number, encrypt: boolean): void {
    if (buffer.length % UNIT !== 0) throw new RangeError(`Encryption works on whole ${UNIT}-byte sectors, not ${buffer.length} bytes`);
    const count = buffer.length / UNIT;
    if (count === 0) return;
    switch (spec.mode) {
      case 'ecb':
        if (encrypt) data.encrypt(buffer);
        else data.decrypt(buffer);
        return;
      case 'xts': {
        const t = xtsTweaks(sector, count);
        const w = words(buffer);
        xorWords(w, t);
        if (encrypt) data.encrypt(buffer);
        else data.decrypt(buffer);
        xorWords(w, t);
        return;
      }
      case 'ctr':
        xorWords(words(buffer), words(ctrStream(sector, count)));
        return;
      case 'cbc': {
        const iv = words(ivs(sector, count));
        const w = words(buffer);
        if (!encrypt) {
          const cipherText = words(bigScratch.get(buffer.length));
          cipherText.set(w);
          data.decrypt(buffer);
          for (let s = 0; s < count; s++) {
            const base = s * (UNIT / 4);
            for (let k = 0; k < 4; k++) w[base + k] ^= iv[s * 4 + k];
            for (let k = 4; k < UNIT / 4; k++) w[base + k] ^= cipherText[base + k - 4];
          }
          return;
        }
        // Block j of every sector in one call: each sector is its own chain.
        const laneBytes = laneScratch.get(count * BLOCK);
        const lane = words(laneBytes);
        for (let j = 0; j < BLOCKS_PER_UNIT; j++) {
          for (let s = 0; s < count; s++) {
            const at = s * (UNIT / 4) + j * 4;
            for (let k = 0; k < 4; k++) lane[s * 4 + k] = w[at + k] ^ (j === 0 ? iv[s * 4 + k] : w[at + k - 4]);
          }
          data.encrypt(laneBytes);
          for (let s = 0; s < count; s++) {
            const at = s * (UNIT / 4) + j * 4;
            for (let k = 0; k < 4; k++) w[at + k] = lane[s * 4 + k];
          }
        }
        return;
      }
    }
  }

  /** The word views need 4-byte alignment; a misaligned buffer is worked on in a copy. */
  function aligned(buffer: Uint8Array, sector: number, encrypt: boolean): void {
    if (buffer.byteOffset % 4 === 0) return run(buffer, sector, encrypt);
    const copy = buffer.slice();
    run(copy, sector, encrypt);
    buffer.set(copy);
  }

  return {
    encrypt: (buffer, sector) => aligned(buffer, sector, true),
    decrypt: (buffer, sector) => aligned(buffer, sector, false),
  };
}
