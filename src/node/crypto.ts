/**
 * Native crypto for the CLI: Node's OpenSSL PBKDF2 and AES (AES-NI where the CPU has it). Only
 * the primitives are native; the modes, IV generators and LUKS are the engine's own, the same
 * code the browser runs (src/core/crypto), so both give the same bytes.
 */
import { createCipheriv, createDecipheriv, getHashes, pbkdf2 } from 'node:crypto';
import { portableCrypto, type BlockCipher, type CryptoProvider } from '../core/crypto/provider.ts';

export function nodeCrypto(): CryptoProvider {
  const portable = portableCrypto();
  const hashes = new Set(getHashes());
  return {
    pbkdf2(hash, password, salt, iterations, length) {
      if (!hashes.has(hash)) return portable.pbkdf2(hash, password, salt, iterations, length);
      return new Promise((resolve, reject) =>
        pbkdf2(password, salt, iterations, length, hash, (error, key) =>
          error ? reject(error) : resolve(new Uint8Array(key.buffer, key.byteOffset, key.length)),
        ),
      );
    },
    aes(key): BlockCipher {
      const name = `aes-${key.length * 8}-ecb`;
      const encipher = createCipheriv(name, key, null).setAutoPadding(false);
      const decipher = createDecipheriv(name, key, null).setAutoPadding(false);
      // ECB keeps no state between whole blocks, so one cipher object serves every call.
      return {
        encrypt: (blocks) => blocks.set(encipher.update(blocks)),
        decrypt: (blocks) => blocks.set(decipher.update(blocks)),
      };
    },
  };
}
