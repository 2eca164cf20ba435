/**
 * The hash algorithms LUKS names in its header (QEMU's QCryptoHashAlgorithm): used for PBKDF2, the
 * anti-forensic splitter's diffusion and ESSIV. All are portable JavaScript (noble-hashes).
 */
import { md5, ripemd160, sha1 } from '@noble/hashes/legacy.js';
import { sha224, sha256, sha384, sha512 } from '@noble/hashes/sha2.js';

export type HashAlg = 'md5' | 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512' | 'ripemd160';

export const HASH_ALGS: readonly HashAlg[] = ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'ripemd160'];

export interface HashFunction {
  (message: Uint8Array): Uint8Array;
  outputLen: number;
  create(): { update(data: Uint8Array): unknown; digest(): Uint8Array };
}

const FUNCTIONS: Record<HashAlg, HashFunction> = { md5, sha1, sha224, sha256, sha384, sha512, ripemd160 } as unknown as Record<
  HashAlg,
  HashFunction
>;

export const isHashAlg = (name: string): name is HashAlg => (HASH_ALGS as readonly string[]).includes(name);

export function hashFunction(alg: HashAlg): HashFunction {
  return FUNCTIONS[alg];
}

export const digestLength = (alg: HashAlg): number => FUNCTIONS[alg].outputLen;

/** H(parts[0] ‖ parts[1] ‖ …). */
export function hashParts(alg: HashAlg, ...parts: Uint8Array[]): Uint8Array {
  const h = FUNCTIONS[alg].create();
  for (const part of parts) h.update(part);
  return h.digest();
}
