/**
 * The primitives encryption is built from, behind one seam so a platform can bring faster ones:
 * PBKDF2 and the raw AES block function (ECB over whole blocks, in place). The portable provider
 * runs anywhere (browser, worker, Node): WebCrypto's PBKDF2 where it has the hash, noble's
 * otherwise, and noble's AES round function. The CLI injects Node's native AES (src/node/crypto.ts).
 * Cipher modes, IV generators and LUKS itself are written once, on top, in src/core/crypto.
 */
import { unsafe } from '@noble/ciphers/aes.js';
import { pbkdf2Async } from '@noble/hashes/pbkdf2.js';
import { hashFunction, type HashAlg } from './hash.ts';

/** AES in ECB over whole 16-byte blocks, in place. */
export interface BlockCipher {
  encrypt(blocks: Uint8Array): void;
  decrypt(blocks: Uint8Array): void;
}

export interface CryptoProvider {
  pbkdf2(hash: HashAlg, password: Uint8Array, salt: Uint8Array, iterations: number, length: number): Promise<Uint8Array>;
  /** An AES block cipher for a 16, 24 or 32-byte key. */
  aes(key: Uint8Array): BlockCipher;
}

const WEB_HASHES: Partial<Record<HashAlg, string>> = { sha1: 'SHA-1', sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' };

async function webPbkdf2(hash: string, password: Uint8Array, salt: Uint8Array, iterations: number, length: number): Promise<Uint8Array> {
  const subtle = globalThis.crypto.subtle;
  const key = await subtle.importKey('raw', password as BufferSource, 'PBKDF2', false, ['deriveBits']);
  const bits = await subtle.deriveBits({ name: 'PBKDF2', hash, salt: salt as BufferSource, iterations }, key, length * 8);
  return new Uint8Array(bits);
}

/** Runs `fn` over `data` as 32-bit words; a misaligned view is worked on in a copy. */
function inWords(data: Uint8Array, fn: (words: Uint32Array) => void): void {
  if (data.length % 16 !== 0) throw new RangeError(`AES works on whole 16-byte blocks, not ${data.length} bytes`);
  if (data.byteOffset % 4 === 0) {
    fn(new Uint32Array(data.buffer, data.byteOffset, data.length >>> 2));
    return;
  }
  const copy = data.slice();
  fn(new Uint32Array(copy.buffer, 0, copy.length >>> 2));
  data.set(copy);
}

/** AES in JavaScript (noble-ciphers' audited round function), keys expanded once. */
export function jsAes(key: Uint8Array): BlockCipher {
  const encKey = unsafe.expandKeyLE(key);
  let decKey: Uint32Array | undefined;
  return {
    encrypt(blocks) {
      inWords(blocks, (w) => {
        for (let i = 0; i < w.length; i += 4) {
          const r = unsafe.encrypt(encKey, w[i], w[i + 1], w[i + 2], w[i + 3]);
          w[i] = r.s0;
          w[i + 1] = r.s1;
          w[i + 2] = r.s2;
          w[i + 3] = r.s3;
        }
      });
    },
    decrypt(blocks) {
      decKey ??= unsafe.expandKeyDecLE(key);
      const dk = decKey;
      inWords(blocks, (w) => {
        for (let i = 0; i < w.length; i += 4) {
          const r = unsafe.decrypt(dk, w[i], w[i + 1], w[i + 2], w[i + 3]);
          w[i] = r.s0;
          w[i + 1] = r.s1;
          w[i + 2] = r.s2;
          w[i + 3] = r.s3;
        }
      });
    },
  };
}

export function portableCrypto(): CryptoProvider {
  return {
    async pbkdf2(hash, password, salt, iterations, length) {
      const web = WEB_HASHES[hash];
      if (web && globalThis.crypto?.subtle) return webPbkdf2(web, password, salt, iterations, length);
      return pbkdf2Async(hashFunction(hash) as never, password, salt, { c: iterations, dkLen: length });
    },
    aes: jsAes,
  };
}

export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  // getRandomValues fills at most 65536 bytes per call.
  for (let at = 0; at < length; at += 65536) globalThis.crypto.getRandomValues(out.subarray(at, Math.min(length, at + 65536)));
  return out;
}
