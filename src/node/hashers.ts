// Node-only: the checksums' hash functions, native.
import { createHash } from 'node:crypto';
import type { HasherFactory } from '../core/iso/checksums.ts';

export const nodeHashers: HasherFactory = (name) => {
  const hash = createHash(name);
  return { update: (bytes) => void hash.update(bytes), digest: () => hash.digest('hex') };
};
