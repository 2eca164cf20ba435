/**
 * The LUKS anti-forensic splitter (cryptsetup's AF_split/AF_merge; QEMU crypto/afsplit.c): a key
 * is spread over `stripes` blocks so that wiping any one of them destroys it. Between stripes the
 * running block is diffused by hashing it chunk by chunk, each chunk prefixed by its index.
 */
import { digestLength, hashParts, type HashAlg } from './hash.ts';
import { randomBytes } from './provider.ts';

function diffuse(hash: HashAlg, block: Uint8Array): void {
  const size = digestLength(hash);
  const index = new Uint8Array(4);
  for (let i = 0, at = 0; at < block.length; i++, at += size) {
    const length = Math.min(size, block.length - at);
    new DataView(index.buffer).setUint32(0, i);
    block.set(hashParts(hash, index, block.subarray(at, at + length)).subarray(0, length), at);
  }
}

function xorInto(target: Uint8Array, source: Uint8Array): void {
  for (let i = 0; i < target.length; i++) target[i] ^= source[i];
}

/** AF-merge: `material` (blockLength × stripes bytes) back to the key. */
export function afMerge(hash: HashAlg, blockLength: number, stripes: number, material: Uint8Array): Uint8Array {
  const block = new Uint8Array(blockLength);
  for (let i = 0; i < stripes - 1; i++) {
    xorInto(block, material.subarray(i * blockLength, (i + 1) * blockLength));
    diffuse(hash, block);
  }
  xorInto(block, material.subarray((stripes - 1) * blockLength, stripes * blockLength));
  return block;
}

/** AF-split: random stripes, the last one chosen so that afMerge gives `key` back. */
export function afSplit(hash: HashAlg, key: Uint8Array, stripes: number): Uint8Array {
  const blockLength = key.length;
  const out = randomBytes(blockLength * stripes);
  const block = new Uint8Array(blockLength);
  for (let i = 0; i < stripes - 1; i++) {
    xorInto(block, out.subarray(i * blockLength, (i + 1) * blockLength));
    diffuse(hash, block);
  }
  xorInto(block, key);
  out.set(block, (stripes - 1) * blockLength);
  return out;
}
