/**
 * The sector ciphers, the AF splitter and LUKS headers against independent references: Node's
 * OpenSSL modes (xts, cbc, ctr, ecb) per sector, the portable and native providers against each
 * other, and hostile headers refused before any PBKDF2 work.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { afMerge, afSplit } from '../../src/core/crypto/afsplit.ts';
import { createLuks, parseLuksHeader, unlockLuks, LUKS_HEADER_BYTES, MAX_PBKDF2_ITERATIONS } from '../../src/core/crypto/luks.ts';
import { portableCrypto } from '../../src/core/crypto/provider.ts';
import { createSectorCipher, type CipherSpec } from '../../src/core/crypto/sector-cipher.ts';
import { DiskImgError } from '../../src/core/errors.ts';
import { nodeCrypto } from '../../src/node/crypto.ts';

const SECTOR = 512;

function ivFor(spec: CipherSpec, key: Buffer, sector: number): Buffer {
  const iv = Buffer.alloc(16);
  iv.writeUInt32LE(sector % 2 ** 32, 0);
  if (spec.ivgen !== 'plain') iv.writeUInt32LE(Math.floor(sector / 2 ** 32), 4);
  if (spec.ivgen !== 'essiv') return iv;
  const salt = createHash(spec.ivgenHash!).update(key).digest();
  const essiv = createCipheriv(`aes-${salt.length * 8}-ecb`, salt, null).setAutoPadding(false);
  return essiv.update(iv);
}

/** Node's OpenSSL, one sector at a time: the reference. */
function reference(spec: CipherSpec, key: Buffer, data: Buffer, first: number): Buffer {
  const out = Buffer.alloc(data.length);
  for (let s = 0; s < data.length / SECTOR; s++) {
    const bits = spec.mode === 'xts' ? (key.length / 2) * 8 : key.length * 8;
    const cipher = createCipheriv(`aes-${bits}-${spec.mode}`, key, spec.mode === 'ecb' ? null : ivFor(spec, key, first + s)).setAutoPadding(
      false,
    );
    cipher.update(data.subarray(s * SECTOR, (s + 1) * SECTOR)).copy(out, s * SECTOR);
  }
  return out;
}

const specs: Array<[CipherSpec, number]> = [
  [{ alg: 'aes-256', mode: 'xts', ivgen: 'plain64' }, 64],
  [{ alg: 'aes-128', mode: 'xts', ivgen: 'plain64' }, 32],
  [{ alg: 'aes-256', mode: 'xts', ivgen: 'essiv', ivgenHash: 'sha256' }, 64],
  [{ alg: 'aes-128', mode: 'cbc', ivgen: 'essiv', ivgenHash: 'sha256' }, 16],
  [{ alg: 'aes-192', mode: 'cbc', ivgen: 'plain' }, 24],
  [{ alg: 'aes-256', mode: 'cbc', ivgen: 'plain64' }, 32],
  [{ alg: 'aes-128', mode: 'ctr', ivgen: 'plain64' }, 16],
  [{ alg: 'aes-256', mode: 'ecb', ivgen: 'plain64' }, 32],
];

describe('sector ciphers match OpenSSL sector by sector', () => {
  for (const [spec, keyLength] of specs) {
    const name = `${spec.alg}-${spec.mode}-${spec.ivgen}${spec.ivgenHash ? `:${spec.ivgenHash}` : ''}`;
    it(name, () => {
      const key = randomBytes(keyLength);
      const data = randomBytes(SECTOR * 9);
      // Past 2^32 sectors, plain wraps and plain64 does not.
      for (const first of [0, 7, 2 ** 32 - 3]) {
        const expected = reference(spec, key, data, first);
        for (const provider of [portableCrypto(), nodeCrypto()]) {
          const cipher = createSectorCipher(spec, key, provider);
          const buffer = new Uint8Array(data);
          cipher.encrypt(buffer, first);
          expect(Buffer.from(buffer).equals(expected)).toBe(true);
          cipher.decrypt(buffer, first);
          expect(Buffer.from(buffer).equals(data)).toBe(true);
        }
      }
    });
  }

  it('works on a buffer that is not 4-byte aligned', () => {
    const key = randomBytes(64);
    const spec = specs[0][0];
    const backing = new Uint8Array(SECTOR * 2 + 1);
    const data = backing.subarray(1);
    data.set(randomBytes(SECTOR * 2));
    const expected = reference(spec, key, Buffer.from(data), 5);
    createSectorCipher(spec, key, portableCrypto()).encrypt(data, 5);
    expect(Buffer.from(data).equals(expected)).toBe(true);
  });

  it('refuses serpent, twofish and cast5 by name', () => {
    expect(() => createSectorCipher({ alg: 'serpent-256', mode: 'xts', ivgen: 'plain64' }, randomBytes(64), portableCrypto())).toThrow(
      /serpent-256 is not supported/,
    );
  });
});

describe('the anti-forensic splitter', () => {
  for (const hash of ['sha1', 'sha256', 'sha512', 'ripemd160', 'md5'] as const) {
    it(`merges what it split (${hash})`, () => {
      const key = randomBytes(64);
      const split = afSplit(hash, key, 4000);
      expect(split.length).toBe(64 * 4000);
      expect(Buffer.from(afMerge(hash, 64, 4000, split)).equals(key)).toBe(true);
    });
  }
});

describe('LUKS headers', () => {
  const fast = { slotIterations: 1000, masterKeyIterations: 1000 };
  const reader = (region: Uint8Array) => async (offset: number, length: number) => region.slice(offset, offset + length);

  it('unlocks what it created, and refuses a wrong passphrase with wrong-passphrase', async () => {
    const provider = portableCrypto();
    const volume = await createLuks('secret', fast, provider);
    expect(volume.region.length).toBe(2068480);
    const header = parseLuksHeader(volume.region.subarray(0, LUKS_HEADER_BYTES));
    expect(header.cipherModeSpec).toBe('xts-plain64');
    const key = await unlockLuks(header, 'secret', reader(volume.region), provider);
    expect(Buffer.from(key).equals(Buffer.from(volume.masterKey))).toBe(true);
    const error = await unlockLuks(header, 'Secret', reader(volume.region), provider).catch((e) => e);
    expect(error).toBeInstanceOf(DiskImgError);
    expect(error.kind).toBe('wrong-passphrase');
    expect(error.message).toBe('Invalid password, cannot unlock any keyslot');
  });

  it('times PBKDF2 to the iteration time asked for', async () => {
    const volume = await createLuks('x', { iterTime: 5 }, nodeCrypto());
    expect(volume.header.slots[0].iterations).toBeGreaterThanOrEqual(1000);
    expect(volume.header.masterKeyIterations).toBeGreaterThanOrEqual(1000);
  });

  describe('hostile or damaged headers are refused before any PBKDF2 work', async () => {
    const volume = await createLuks('secret', fast, portableCrypto());
    const damaged = (edit: (v: DataView, bytes: Uint8Array) => void) => {
      const bytes = volume.region.slice(0, LUKS_HEADER_BYTES);
      edit(new DataView(bytes.buffer), bytes);
      return bytes;
    };
    const cases: Array<[string, (v: DataView, b: Uint8Array) => void, string, string]> = [
      ['bad magic', (_v, b) => (b[0] = 0x4d), 'invalid-format', 'Volume is not in LUKS format'],
      ['version 2', (v) => v.setUint16(6, 2), 'unsupported', 'LUKS version 2 is not supported'],
      ['cipher name without NUL', (_v, b) => b.fill(0x61, 8, 40), 'invalid-format', 'LUKS header cipher name is not NUL terminated'],
      ['stripes', (v) => v.setUint32(208 + 44, 3999), 'corrupt', 'Keyslot 0 is corrupted (stripes 3999 != 4000)'],
      [
        'absurd stripes',
        (v) => v.setUint32(208 + 48 * 3 + 44, 0xffffffff),
        'corrupt',
        'Keyslot 3 is corrupted (stripes 4294967295 != 4000)',
      ],
      ['slot state', (v) => v.setUint32(208 + 48 * 2, 1), 'corrupt', 'Keyslot 2 state (active/disable) is corrupted'],
      [
        'key material past the payload',
        (v) => v.setUint32(208 + 48 * 7 + 40, 4000),
        'corrupt',
        'Keyslot 7 is overlapping with the encrypted payload',
      ],
      ['key material in the header', (v) => v.setUint32(208 + 40, 1), 'corrupt', 'Keyslot 0 is overlapping with the LUKS header'],
      [
        'overlapping slots',
        (v) => v.setUint32(208 + 48 + 40, v.getUint32(208 + 40)),
        'corrupt',
        'Keyslots 0 and 1 are overlapping in the header',
      ],
      ['zero iterations', (v) => v.setUint32(164, 0), 'corrupt', 'LUKS key iteration count is zero'],
      [
        'unknown hash',
        (_v, b) => b.set(new TextEncoder().encode('sha2566\0'), 72),
        'unsupported',
        "Hash algorithm 'sha2566' not supported",
      ],
      [
        'unknown cipher',
        (_v, b) => b.set(new TextEncoder().encode('foo\0'), 8),
        'unsupported',
        "Algorithm 'foo' with key size 32 bytes not supported",
      ],
    ];
    for (const [what, edit, kind, message] of cases) {
      it(what, () => {
        const error = (() => {
          try {
            parseLuksHeader(damaged(edit));
          } catch (e) {
            return e as DiskImgError;
          }
          throw new Error('accepted');
        })();
        expect(error.kind).toBe(kind);
        expect(error.message).toBe(message);
      });
    }

    it('absurd iteration counts are a limit error, at once', async () => {
      for (const at of [164, 208 + 4]) {
        const header = parseLuksHeader(damaged((v) => v.setUint32(at, 0xfffffff0)));
        const started = performance.now();
        const error = await unlockLuks(header, 'secret', reader(volume.region), portableCrypto()).catch((e) => e);
        expect(error.kind).toBe('limit');
        expect(error.message).toContain(`more than diskimg accepts (${MAX_PBKDF2_ITERATIONS})`);
        expect(performance.now() - started).toBeLessThan(100);
      }
    });
  });
});
