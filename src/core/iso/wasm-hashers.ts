/**
 * SHA-256, SHA-1 and MD5 in WebAssembly (hash-wasm): streaming, the same in a browser worker and
 * in Node, for `checksums`. (The CLI passes Node's native hashes instead: src/node/hashers.ts.)
 */
import { createMD5, createSHA1, createSHA256 } from 'hash-wasm';
import type { HasherFactory, HashName } from './checksums.ts';

export const wasmHashers: HasherFactory = async (name: HashName) => {
  const hasher = await (name === 'sha256' ? createSHA256() : name === 'sha1' ? createSHA1() : createMD5());
  hasher.init();
  return { update: (bytes) => void hasher.update(bytes), digest: () => hasher.digest('hex') };
};
