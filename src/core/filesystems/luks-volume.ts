/**
 * A LUKS1 or LUKS2 partition opened with its passphrase, so the file system inside can be read:
 * the key slot unlocked (PBKDF2, or Argon2i/Argon2id for LUKS2), the master key checked against
 * the digest, and the data segment deciphered sector by sector as it is read. LUKS1 is the same
 * header qcow2's encryption and qemu's luks driver use (src/core/crypto/luks.ts); LUKS2 (the
 * cryptsetup default) keeps a binary header, its checksum and a JSON area, in two copies.
 *
 *   const plain = await openLuksVolume(partition, passphrase, crypto);   // a ByteSource
 */
// hash-wasm's Argon2 (WebAssembly, also used for the ISO checksums): real volumes ask for up to 1 GiB and several passes, far too slow in plain JavaScript.
import { argon2i, argon2id } from 'hash-wasm';
import { afMerge } from '../crypto/afsplit.ts';
import { hashParts, isHashAlg, type HashAlg } from '../crypto/hash.ts';
import { luksCipherSpec, MAX_PBKDF2_ITERATIONS, parseLuksHeader, passphraseBytes, unlockLuks, LUKS_HEADER_BYTES } from '../crypto/luks.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import { createSectorCipher, SECTOR, type CipherSpec, type SectorCipher } from '../crypto/sector-cipher.ts';
import { DiskImgError } from '../errors.ts';
import { ascii, be16, be64 } from '../partitions/bytes.ts';
import { ByteSource, MAX_PROBE_READ, type GuestReader } from '../partitions/source.ts';

const LUKS2_BINARY_HEADER = 4096;
/** The sizes cryptsetup allows for one header copy (binary header + JSON area). */
const LUKS2_HEADER_SIZES = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096].map((k) => k * 1024);
/** cryptsetup's own ceiling for Argon2 memory (4 GiB, in KiB) and a bound on its other costs. */
const MAX_ARGON2_MEMORY_KIB = 4 * 1024 * 1024;
const MAX_ARGON2_TIME = 1000;
const MAX_KEY_BYTES = 128;
const MAX_STRIPES = 4000;

const damaged = (message: string, offset?: number): never => {
  throw new DiskImgError('corrupt', message, { field: 'LUKS header', ...(offset !== undefined ? { offset } : {}) });
};
const unsupported = (message: string): never => {
  throw new DiskImgError('unsupported', message, { field: 'LUKS header' });
};

async function readAll(source: ByteSource, offset: number, length: number, what: string): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  for (let done = 0; done < length;) {
    const n = Math.min(MAX_PROBE_READ, length - done);
    const bytes = await source.read(offset + done, n);
    if (!bytes)
      return damaged(`${what} lies at bytes ${offset}–${offset + length}, past the end of the partition (${source.size} bytes)`, offset);
    out.set(bytes, done);
    done += n;
  }
  return out;
}

/** The deciphered payload: what the file-system readers see, deciphered in whole encryption sectors. */
class DecryptedVolume implements GuestReader {
  constructor(
    private readonly source: ByteSource,
    private readonly payload: number,
    readonly virtualSize: number,
    private readonly cipher: SectorCipher,
    private readonly sectorSize = SECTOR,
  ) {}

  async read(offset: number, length: number): Promise<Uint8Array> {
    const unit = this.sectorSize;
    const first = Math.floor(offset / unit);
    const end = Math.ceil((offset + length) / unit) * unit;
    const bytes = await readAll(this.source, this.payload + first * unit, end - first * unit, 'Encrypted data');
    // dm-crypt numbers IVs in 512-byte sectors whatever the encryption sector size (LUKS2 sets no
    // iv_large_sectors): each 4096-byte sector is one XTS unit whose IV is its 512-byte index.
    for (let i = 0; i < bytes.length / unit; i++)
      this.cipher.decrypt(bytes.subarray(i * unit, (i + 1) * unit), (first + i) * (unit / SECTOR));
    return bytes.subarray(offset - first * unit, offset - first * unit + length);
  }
}

/** Opens the LUKS partition `source` with `passphrase`; a wrong one is a 'wrong-passphrase' error. */
export async function openLuksVolume(source: ByteSource, passphrase: string | Uint8Array, crypto: CryptoProvider): Promise<ByteSource> {
  const head = await readAll(source, 0, LUKS2_BINARY_HEADER, 'The LUKS header');
  const version = be16(head, 6);
  if (version === 1) {
    const header = parseLuksHeader(head.subarray(0, LUKS_HEADER_BYTES));
    const key = await unlockLuks(header, passphrase, (offset, length) => readAll(source, offset, length, 'LUKS key material'), crypto);
    const payload = header.payloadOffsetSector * SECTOR;
    if (payload > source.size)
      damaged(`The LUKS payload starts at byte ${payload}, past the end of the partition (${source.size} bytes)`, 104);
    return ByteSource.whole(new DecryptedVolume(source, payload, source.size - payload, createSectorCipher(header.cipher, key, crypto)));
  }
  if (version !== 2) return unsupported(`LUKS version ${version} is not supported`);
  const metadata = await readLuks2Metadata(source, head);
  return openLuks2(source, metadata, passphraseBytes(passphrase), crypto);
}

// ---- LUKS2 -----------------------------------------------------------------------------------

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One header copy: the binary header checked by its own checksum, and the JSON it holds. */
async function readCopy(source: ByteSource, at: number, first?: Uint8Array): Promise<{ seqid: number; json: Json; size: number } | string> {
  const bin = first ?? (await source.read(at, LUKS2_BINARY_HEADER));
  if (!bin) return `the copy at byte ${at} lies past the end of the partition`;
  if (ascii(bin, 0, 6) !== (at === 0 ? 'LUKS\xba\xbe' : 'SKUL\xba\xbe')) return `the copy at byte ${at} lacks its magic`;
  if (be16(bin, 6) !== 2) return `the copy at byte ${at} has version ${be16(bin, 6)}`;
  const size = be64(bin, 8);
  if (!LUKS2_HEADER_SIZES.includes(size)) return `the copy at byte ${at} gives a header size of ${size} bytes, not one LUKS2 allows`;
  if (be64(bin, 0x100) !== at) return `the copy at byte ${at} says it is at byte ${be64(bin, 0x100)}`;
  const algorithm = ascii(bin, 0x48, 32).replace(/\0.*$/s, '');
  if (algorithm !== 'sha256') return `the copy at byte ${at} is checked with ${JSON.stringify(algorithm)}, which diskimg does not know`;
  const whole = await readAll(source, at, size, 'The LUKS2 header');
  const stored = whole.slice(0x1c0, 0x1c0 + 32);
  whole.fill(0, 0x1c0, 0x1c0 + 64);
  const actual = hashParts('sha256', whole);
  if (actual.some((b, i) => b !== stored[i])) return `the copy at byte ${at} fails its checksum`;
  const text = whole.subarray(LUKS2_BINARY_HEADER);
  const end = text.indexOf(0);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(end < 0 ? text : text.subarray(0, end)));
  } catch (error) {
    return `the JSON of the copy at byte ${at} does not parse (${(error as Error).message})`;
  }
  if (!isObject(json)) return `the JSON of the copy at byte ${at} is not an object`;
  return { seqid: be64(bin, 16), json, size };
}

/** The newer of the two copies (by seqid) whose checksums hold. */
async function readLuks2Metadata(source: ByteSource, head: Uint8Array): Promise<Json> {
  const primary = await readCopy(source, 0, head);
  const problems: string[] = [];
  const copies: Array<{ seqid: number; json: Json }> = [];
  if (typeof primary === 'string') problems.push(primary);
  else copies.push(primary);
  const secondAt = typeof primary === 'string' ? be64(head, 8) : primary.size;
  if (LUKS2_HEADER_SIZES.includes(secondAt)) {
    const secondary = await readCopy(source, secondAt);
    if (typeof secondary === 'string') problems.push(secondary);
    else copies.push(secondary);
  }
  if (copies.length === 0) return damaged(`Neither LUKS2 header copy can be used: ${problems.join('; ')}`, 0);
  copies.sort((a, b) => b.seqid - a.seqid);
  return copies[0].json;
}

const text = (v: unknown, what: string): string =>
  typeof v === 'string' ? v : damaged(`The LUKS2 header's ${what} is missing or not text`);

/** LUKS2 writes 64-bit numbers as decimal strings. */
function number(v: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof v === 'string' && /^\d{1,16}$/.test(v) ? Number(v) : typeof v === 'number' ? v : NaN;
  if (!Number.isSafeInteger(n) || n < 0 || n > max) damaged(`The LUKS2 header's ${what} (${JSON.stringify(v)}) is not a number in range`);
  return n;
}

const base64 = (v: unknown, what: string): Uint8Array => {
  const s = text(v, what);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length > 1024) damaged(`The LUKS2 header's ${what} is not base64`);
  const bin = atob(s);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
};

const hashOf = (v: unknown, what: string): HashAlg => {
  const name = text(v, what);
  return isHashAlg(name) ? name : unsupported(`The LUKS2 ${what} ${JSON.stringify(name)} is not supported`);
};

/** "aes-xts-plain64" with a key of `keyBytes` bytes. */
function cipherOf(encryption: string, keyBytes: number): CipherSpec {
  const dash = encryption.indexOf('-');
  if (dash < 0) return unsupported(`The LUKS2 cipher ${JSON.stringify(encryption)} is not supported`);
  return luksCipherSpec(encryption.slice(0, dash), encryption.slice(dash + 1), keyBytes, 'sha256', {}).cipher;
}

async function deriveKey(kdf: Json, password: Uint8Array, keyBytes: number, slot: string, crypto: CryptoProvider): Promise<Uint8Array> {
  const type = text(kdf.type, `keyslot ${slot} kdf type`);
  const salt = base64(kdf.salt, `keyslot ${slot} salt`);
  if (type === 'pbkdf2') {
    const iterations = number(kdf.iterations, `keyslot ${slot} iterations`);
    if (iterations > MAX_PBKDF2_ITERATIONS)
      throw new DiskImgError(
        'limit',
        `Keyslot ${slot} has ${iterations} PBKDF2 iterations, more than diskimg accepts (${MAX_PBKDF2_ITERATIONS})`,
        {
          field: 'LUKS header',
          value: iterations,
        },
      );
    return crypto.pbkdf2(hashOf(kdf.hash, `keyslot ${slot} hash`), password, salt, iterations, keyBytes);
  }
  if (type === 'argon2i' || type === 'argon2id') {
    const t = number(kdf.time, `keyslot ${slot} time cost`, MAX_ARGON2_TIME);
    const m = number(kdf.memory, `keyslot ${slot} memory cost`);
    const p = number(kdf.cpus, `keyslot ${slot} parallel cost`, 64);
    if (m > MAX_ARGON2_MEMORY_KIB)
      throw new DiskImgError('limit', `Keyslot ${slot} asks Argon2 for ${m} KiB of memory, more than cryptsetup itself allows (4 GiB)`, {
        field: 'LUKS header',
        value: m,
      });
    const options = { password, salt, iterations: t, memorySize: m, parallelism: p, hashLength: keyBytes, outputType: 'binary' as const };
    try {
      return await (type === 'argon2i' ? argon2i(options) : argon2id(options));
    } catch (error) {
      // The memory cost is the usual culprit: a browser may refuse a WebAssembly memory of that size.
      throw new DiskImgError(
        'limit',
        `Keyslot ${slot}'s ${type} (${m} KiB of memory, ${t} passes) could not run here: ${(error as Error).message}`,
        {
          field: 'LUKS header',
          value: m,
        },
      );
    }
  }
  return unsupported(`Keyslot ${slot} uses the key derivation ${JSON.stringify(type)}, which diskimg does not know`);
}

async function openLuks2(source: ByteSource, json: Json, password: Uint8Array, crypto: CryptoProvider): Promise<ByteSource> {
  const config = isObject(json.config) ? json.config : {};
  const mandatory = isObject(config.requirements) && Array.isArray(config.requirements.mandatory) ? config.requirements.mandatory : [];
  if (mandatory.length > 0)
    unsupported(`The LUKS2 volume needs ${mandatory.map(String).join(', ')} (an interrupted reencryption?): run cryptsetup on it first`);
  const segments = isObject(json.segments) ? Object.entries(json.segments) : [];
  if (segments.length !== 1)
    return unsupported(`The LUKS2 volume has ${segments.length} data segments; diskimg reads volumes with exactly one`);
  const [segmentId, segment] = segments[0];
  if (!isObject(segment) || segment.type !== 'crypt') return unsupported(`LUKS2 segment ${segmentId} is not of type crypt`);
  const sectorSize = number(segment.sector_size, `segment ${segmentId} sector_size`);
  if (![512, 1024, 2048, 4096].includes(sectorSize))
    damaged(`LUKS2 segment ${segmentId} has an encryption sector size of ${sectorSize} bytes, not one LUKS2 allows`);
  if (number(segment.iv_tweak ?? '0', `segment ${segmentId} iv_tweak`) !== 0)
    unsupported(`LUKS2 segment ${segmentId} has a non-zero IV tweak`);
  const payload = number(segment.offset, `segment ${segmentId} offset`);
  // A dynamic segment ends at the last whole encryption sector of the partition.
  const size =
    segment.size === 'dynamic'
      ? Math.floor(Math.max(0, source.size - payload) / sectorSize) * sectorSize
      : number(segment.size, `segment ${segmentId} size`);
  if (payload % sectorSize !== 0 || size % sectorSize !== 0)
    damaged(`LUKS2 segment ${segmentId} (${size} bytes at ${payload}) is not made of whole ${sectorSize}-byte sectors`);
  if (payload + size > source.size || size < 0)
    damaged(`LUKS2 segment ${segmentId} (${size} bytes at ${payload}) runs past the end of the partition (${source.size} bytes)`);
  const encryption = text(segment.encryption, `segment ${segmentId} encryption`);

  const digests = isObject(json.digests) ? Object.entries(json.digests).filter(([, d]) => isObject(d)) : [];
  const keyslots = isObject(json.keyslots) ? Object.entries(json.keyslots) : [];
  for (const [slot, raw] of keyslots) {
    if (!isObject(raw) || raw.type !== 'luks2' || !isObject(raw.area) || !isObject(raw.af) || !isObject(raw.kdf)) continue;
    const digest = digests.find(
      ([, d]) =>
        Array.isArray((d as Json).keyslots) &&
        ((d as Json).keyslots as unknown[]).includes(slot) &&
        Array.isArray((d as Json).segments) &&
        ((d as Json).segments as unknown[]).includes(segmentId),
    )?.[1] as Json | undefined;
    if (!digest) continue;
    const keyBytes = number(raw.key_size, `keyslot ${slot} key_size`, MAX_KEY_BYTES);
    const stripes = number(raw.af.stripes, `keyslot ${slot} stripes`, MAX_STRIPES);
    if (raw.af.type !== 'luks1' || stripes < 1)
      unsupported(`Keyslot ${slot}'s anti-forensic split ${JSON.stringify(raw.af.type)} is not supported`);
    const areaOffset = number(raw.area.offset, `keyslot ${slot} area offset`);
    const areaKeyBytes = number(raw.area.key_size, `keyslot ${slot} area key_size`, MAX_KEY_BYTES);
    if (areaOffset + keyBytes * stripes > source.size)
      damaged(`Keyslot ${slot}'s key material at byte ${areaOffset} lies past the end of the partition`);
    const slotKey = await deriveKey(raw.kdf, password, areaKeyBytes, slot, crypto);
    const material = await readAll(source, areaOffset, Math.ceil((keyBytes * stripes) / SECTOR) * SECTOR, `Keyslot ${slot}'s key material`);
    createSectorCipher(cipherOf(text(raw.area.encryption, `keyslot ${slot} area encryption`), areaKeyBytes), slotKey, crypto).decrypt(
      material,
      0,
    );
    const candidate = afMerge(hashOf(raw.af.hash, `keyslot ${slot} AF hash`), keyBytes, stripes, material.subarray(0, keyBytes * stripes));
    if (digest.type !== 'pbkdf2') unsupported(`Digest type ${JSON.stringify(digest.type)} is not supported`);
    const want = base64(digest.digest, 'digest');
    const iterations = number(digest.iterations, 'digest iterations', MAX_PBKDF2_ITERATIONS);
    const got = await crypto.pbkdf2(
      hashOf(digest.hash, 'digest hash'),
      candidate,
      base64(digest.salt, 'digest salt'),
      iterations,
      want.length,
    );
    if (got.every((b, i) => b === want[i]))
      return ByteSource.whole(
        new DecryptedVolume(
          source,
          payload,
          size,
          createSectorCipher(cipherOf(encryption, keyBytes), candidate, crypto, sectorSize),
          sectorSize,
        ),
      );
  }
  throw new DiskImgError('wrong-passphrase', 'The passphrase opens none of the LUKS key slots', { field: 'passphrase' });
}
