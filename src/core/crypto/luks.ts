/**
 * LUKS version 1 (cryptsetup's on-disk format 1.2.1, as QEMU's crypto/block-luks.c reads and
 * writes it): the header, its checks (QEMU's, in QEMU's order and words), unlocking a key slot
 * with a passphrase, and making a new header. The payload is not here: qcow2 keeps the header in
 * a region of its own and enciphers its clusters with the master key found here.
 *
 * Hostile headers are bounded: stripes must be 4000 (so key material is at most 256 000 bytes),
 * and PBKDF2 iteration counts above MAX_PBKDF2_ITERATIONS are refused before any work is done.
 */
import { latin1 } from '../bytes.ts';
import { DiskImgError } from '../errors.ts';
import { afMerge, afSplit } from './afsplit.ts';
import { digestLength, isHashAlg, type HashAlg } from './hash.ts';
import { randomBytes, type CryptoProvider } from './provider.ts';
import {
  CIPHER_MODES,
  IVGEN_ALGS,
  SECTOR,
  cipherKeyLength,
  createSectorCipher,
  essivCipher,
  requireSupported,
  type CipherAlg,
  type CipherMode,
  type CipherSpec,
  type IvGenAlg,
} from './sector-cipher.ts';

export const LUKS_HEADER_BYTES = 592;
export const LUKS_MAGIC = [0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]; // "LUKS\xba\xbe"
export const LUKS_STRIPES = 4000;
export const LUKS_SLOTS = 8;
const SLOT_ENABLED = 0x00ac71f3;
const SLOT_DISABLED = 0x0000dead;
const DIGEST_BYTES = 20;
const SALT_BYTES = 32;
/** Key material starts at 4096 bytes and every slot's area is a multiple of 8 sectors. */
const HEADER_SECTORS = 8;
const MIN_ITERATIONS = 1000;
export const DEFAULT_ITER_TIME_MS = 2000;
/**
 * Far above what qemu-img or cryptsetup set on today's CPUs (a few million at 2 s), low enough
 * that a hostile header cannot keep PBKDF2 busy for hours.
 */
export const MAX_PBKDF2_ITERATIONS = 1 << 26;

export interface LuksKeySlot {
  active: boolean;
  iterations: number;
  salt: Uint8Array;
  keyOffsetSector: number;
  stripes: number;
}

export interface LuksHeader {
  cipherName: string;
  /** As stored, e.g. "xts-plain64" or "cbc-essiv:sha256". */
  cipherModeSpec: string;
  hashSpec: string;
  payloadOffsetSector: number;
  keyBytes: number;
  masterKeyDigest: Uint8Array;
  masterKeySalt: Uint8Array;
  masterKeyIterations: number;
  uuid: string;
  slots: LuksKeySlot[];
  /** What the strings say, parsed. */
  cipher: CipherSpec;
  hash: HashAlg;
}

const invalid = (message: string, context: Record<string, unknown> = {}): never => {
  throw new DiskImgError('invalid-format', message, { field: 'LUKS header', ...context });
};
const corrupt = (message: string, context: Record<string, unknown> = {}): never => {
  throw new DiskImgError('corrupt', message, { field: 'LUKS header', ...context });
};
const unsupported = (message: string, context: Record<string, unknown> = {}): never => {
  throw new DiskImgError('unsupported', message, { field: 'LUKS header', ...context });
};

/** A NUL-terminated string field, or null when it has no NUL. */
function cString(bytes: Uint8Array): string | null {
  const nul = bytes.indexOf(0);
  return nul < 0 ? null : latin1(bytes.subarray(0, nul));
}

/** Sectors one slot's key material takes, rounded up to the header alignment. */
function splitKeySectors(keyBytes: number, stripes: number): number {
  const sectors = Math.ceil((keyBytes * stripes) / SECTOR);
  return Math.ceil(sectors / HEADER_SECTORS) * HEADER_SECTORS;
}

const CIPHER_SIZES: Record<string, number[]> = { aes: [16, 24, 32], cast5: [16], serpent: [16, 24, 32], twofish: [16, 24, 32] };

function lookupHash(name: string): HashAlg {
  if (!isHashAlg(name)) unsupported(`Hash algorithm '${name}' not supported`, { value: name });
  return name as HashAlg;
}

/**
 * The cipher a LUKS header names ("aes" and "xts-plain64" with its key size) and its hash, as
 * qcrypto_block_luks_parse_header reads them; `at` says where the strings are, for errors.
 * LUKS2 names the same things in its JSON ("aes-xts-plain64"), read with this too.
 */
export function luksCipherSpec(
  cipherName: string,
  cipherModeSpec: string,
  keyBytes: number,
  hashSpec: string,
  at: { name?: number; mode?: number },
): { cipher: CipherSpec; hash: HashAlg } {
  // qcrypto_block_luks_parse_header: "<mode>-<ivgen>[:<ivhash>]".
  const dash = cipherModeSpec.indexOf('-');
  if (dash < 0) invalid(`Unexpected cipher mode string format '${cipherModeSpec}'`, { offset: at.mode, value: cipherModeSpec });
  const modeName = cipherModeSpec.slice(0, dash);
  let ivgenName = cipherModeSpec.slice(dash + 1);
  let ivgenHash: HashAlg | undefined;
  const colon = ivgenName.indexOf(':');
  if (colon >= 0) {
    ivgenHash = lookupHash(ivgenName.slice(colon + 1));
    ivgenName = ivgenName.slice(0, colon);
  }
  if (!(CIPHER_MODES as readonly string[]).includes(modeName))
    unsupported(`Cipher mode '${modeName}' not supported`, { offset: at.mode, value: modeName });
  const mode = modeName as CipherMode;
  const algKeyBytes = mode === 'xts' ? keyBytes / 2 : keyBytes;
  if (!CIPHER_SIZES[cipherName]?.includes(algKeyBytes))
    unsupported(`Algorithm '${cipherName}' with key size ${Math.floor(algKeyBytes)} bytes not supported`, {
      offset: at.name,
      value: cipherName,
    });
  const alg = `${cipherName}-${algKeyBytes * 8}` as CipherAlg;
  const hash = lookupHash(hashSpec);
  if (!(IVGEN_ALGS as readonly string[]).includes(ivgenName))
    unsupported(`IV generator '${ivgenName}' not supported`, { offset: at.mode, value: ivgenName });
  const ivgen = ivgenName as IvGenAlg;
  const cipher: CipherSpec = { alg, mode, ivgen };
  if (ivgen === 'essiv') {
    if (!ivgenHash) invalid('Missing IV generator hash specification', { offset: at.mode });
    cipher.ivgenHash = ivgenHash;
    cipher.ivgenAlg = essivCipher(alg, ivgenHash!);
  }
  return { cipher, hash };
}

/** Parses and checks the 592-byte header (qcrypto_block_luks_load/check/parse_header). */
export function parseLuksHeader(bytes: Uint8Array): LuksHeader {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < LUKS_HEADER_BYTES || LUKS_MAGIC.some((b, i) => bytes[i] !== b)) invalid('Volume is not in LUKS format', { offset: 0 });
  const version = v.getUint16(6);
  if (version !== 1) unsupported(`LUKS version ${version} is not supported`, { offset: 6, value: version });
  const cipherName = cString(bytes.subarray(8, 40)) ?? invalid('LUKS header cipher name is not NUL terminated', { offset: 8 });
  const cipherModeSpec = cString(bytes.subarray(40, 72)) ?? invalid('LUKS header cipher mode is not NUL terminated', { offset: 40 });
  const hashSpec = cString(bytes.subarray(72, 104)) ?? invalid('LUKS header hash spec is not NUL terminated', { offset: 72 });
  const payloadOffsetSector = v.getUint32(104);
  const keyBytes = v.getUint32(108);
  const masterKeyIterations = v.getUint32(164);
  const slots: LuksKeySlot[] = [];
  const rawActive: number[] = [];
  for (let i = 0; i < LUKS_SLOTS; i++) {
    const at = 208 + i * 48;
    rawActive.push(v.getUint32(at));
    slots.push({
      active: v.getUint32(at) === SLOT_ENABLED,
      iterations: v.getUint32(at + 4),
      salt: bytes.slice(at + 8, at + 40),
      keyOffsetSector: v.getUint32(at + 40),
      stripes: v.getUint32(at + 44),
    });
  }
  if (payloadOffsetSector < HEADER_SECTORS)
    corrupt('LUKS payload is overlapping with the header', { offset: 104, value: payloadOffsetSector });
  if (masterKeyIterations === 0) corrupt('LUKS key iteration count is zero', { offset: 164, value: 0 });
  for (let i = 0; i < LUKS_SLOTS; i++) {
    const slot = slots[i];
    const at = 208 + i * 48;
    if (slot.stripes !== LUKS_STRIPES)
      corrupt(`Keyslot ${i} is corrupted (stripes ${slot.stripes} != ${LUKS_STRIPES})`, { offset: at + 44, value: slot.stripes });
    if (rawActive[i] !== SLOT_ENABLED && rawActive[i] !== SLOT_DISABLED)
      corrupt(`Keyslot ${i} state (active/disable) is corrupted`, { offset: at, value: rawActive[i] });
    if (slot.active && slot.iterations === 0) corrupt(`Keyslot ${i} iteration count is zero`, { offset: at + 4, value: 0 });
    const start = slot.keyOffsetSector;
    const length = splitKeySectors(keyBytes, slot.stripes);
    if (start < HEADER_SECTORS) corrupt(`Keyslot ${i} is overlapping with the LUKS header`, { offset: at + 40, value: start });
    // Unsigned 32-bit sums, as QEMU computes them (a wrapped sum passes here; the read fails later).
    if ((start + length) >>> 0 > payloadOffsetSector)
      corrupt(`Keyslot ${i} is overlapping with the encrypted payload`, { offset: at + 40, value: start });
    for (let j = i + 1; j < LUKS_SLOTS; j++) {
      const other = slots[j].keyOffsetSector;
      const otherLength = splitKeySectors(keyBytes, slots[j].stripes);
      if ((start + length) >>> 0 > other && (other + otherLength) >>> 0 > start)
        corrupt(`Keyslots ${i} and ${j} are overlapping in the header`, { offset: at + 40, value: start });
    }
  }

  const { cipher, hash } = luksCipherSpec(cipherName, cipherModeSpec, keyBytes, hashSpec, { name: 8, mode: 40 });
  return {
    cipherName,
    cipherModeSpec,
    hashSpec,
    payloadOffsetSector,
    keyBytes,
    masterKeyDigest: bytes.slice(112, 132),
    masterKeySalt: bytes.slice(132, 164),
    masterKeyIterations,
    uuid: cString(bytes.subarray(168, 208)) ?? latin1(bytes.subarray(168, 208)),
    slots,
    cipher,
    hash,
  };
}

/** qemu-img info's "encrypt" object for a LUKS image (QCryptoBlockInfoLUKS, in schema order). */
export function luksInfo(h: LuksHeader): Record<string, unknown> {
  const info: Record<string, unknown> = {
    format: 'luks',
    'cipher-alg': h.cipher.alg,
    'cipher-mode': h.cipher.mode,
    'ivgen-alg': h.cipher.ivgen,
  };
  if (h.cipher.ivgen === 'essiv') info['ivgen-hash-alg'] = h.cipher.ivgenHash;
  info['hash-alg'] = h.hash;
  info['payload-offset'] = h.payloadOffsetSector * SECTOR;
  info['master-key-iters'] = h.masterKeyIterations;
  info.uuid = h.uuid;
  info.slots = h.slots.map((s) =>
    s.active
      ? { active: true, iters: s.iterations, stripes: s.stripes, 'key-offset': s.keyOffsetSector * SECTOR }
      : { active: false, 'key-offset': s.keyOffsetSector * SECTOR },
  );
  return info;
}

/** Reads `length` bytes at `offset` from the start of the LUKS header. */
export type LuksReader = (offset: number, length: number) => Promise<Uint8Array>;

export function passphraseBytes(passphrase: string | Uint8Array): Uint8Array {
  const bytes = typeof passphrase === 'string' ? new TextEncoder().encode(passphrase) : passphrase;
  // QEMU passes the secret as a C string: it ends at the first NUL.
  const nul = bytes.indexOf(0);
  return nul < 0 ? bytes : bytes.subarray(0, nul);
}

/** Key material is enciphered in 512-byte sectors; a short last sector is padded for the work. */
function cipherKeyMaterial(
  spec: CipherSpec,
  key: Uint8Array,
  provider: CryptoProvider,
  material: Uint8Array,
  encrypt: boolean,
): Uint8Array {
  const padded = new Uint8Array(Math.ceil(material.length / SECTOR) * SECTOR);
  padded.set(material);
  const cipher = createSectorCipher(spec, key, provider);
  if (encrypt) cipher.encrypt(padded, 0);
  else cipher.decrypt(padded, 0);
  return padded.subarray(0, material.length);
}

function checkIterations(count: number, what: string, context: Record<string, unknown>): void {
  if (count > MAX_PBKDF2_ITERATIONS) {
    throw new DiskImgError(
      'limit',
      `${what} has ${count} PBKDF2 iterations, more than diskimg accepts (${MAX_PBKDF2_ITERATIONS}); the header is damaged or hostile`,
      { field: 'LUKS header', value: count, ...context },
    );
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * Tries the passphrase on every active key slot in turn (qcrypto_block_luks_find_key) and returns
 * the master key. A passphrase that opens none is DiskImgError 'wrong-passphrase'.
 */
export async function unlockLuks(
  h: LuksHeader,
  passphrase: string | Uint8Array,
  read: LuksReader,
  provider: CryptoProvider,
): Promise<Uint8Array> {
  requireSupported(h.cipher);
  const password = passphraseBytes(passphrase);
  checkIterations(h.masterKeyIterations, 'The master key digest', { offset: 164 });
  h.slots.forEach((slot, i) => slot.active && checkIterations(slot.iterations, `Keyslot ${i}`, { offset: 208 + i * 48 + 4 }));
  for (const slot of h.slots) {
    if (!slot.active) continue;
    const slotKey = await provider.pbkdf2(h.hash, password, slot.salt, slot.iterations, h.keyBytes);
    const material = await read(slot.keyOffsetSector * SECTOR, h.keyBytes * slot.stripes);
    const split = cipherKeyMaterial(h.cipher, slotKey, provider, material, false);
    const masterKey = afMerge(h.hash, h.keyBytes, slot.stripes, split);
    const digest = await provider.pbkdf2(h.hash, masterKey, h.masterKeySalt, h.masterKeyIterations, DIGEST_BYTES);
    if (equalBytes(digest, h.masterKeyDigest)) return masterKey;
  }
  throw new DiskImgError('wrong-passphrase', 'Invalid password, cannot unlock any keyslot', { field: 'passphrase' });
}

export interface LuksCreateOptions {
  cipherAlg?: CipherAlg;
  cipherMode?: CipherMode;
  ivgenAlg?: IvGenAlg;
  ivgenHashAlg?: HashAlg;
  hashAlg?: HashAlg;
  /** Milliseconds of PBKDF2 the passphrase should cost (qemu-img's encrypt.iter-time, default 2000). */
  iterTime?: number;
  /** Fixed iteration counts instead of timing PBKDF2 (each at least 1000). */
  slotIterations?: number;
  masterKeyIterations?: number;
}

export interface LuksVolume {
  /** The header region: header, then key material (slot 0's filled in), payload_offset bytes long. */
  region: Uint8Array;
  header: LuksHeader;
  masterKey: Uint8Array;
}

/**
 * qcrypto_pbkdf2_count_iters: PBKDF2 iterations per second for one digest-sized output block,
 * timed by doubling the work until a run takes over half a second.
 */
export async function pbkdf2Rate(provider: CryptoProvider, hash: HashAlg): Promise<number> {
  const password = randomBytes(32);
  const salt = randomBytes(SALT_BYTES);
  let iterations = 1 << 15;
  for (;;) {
    const start = performance.now();
    await provider.pbkdf2(hash, password, salt, iterations, digestLength(hash));
    const elapsed = performance.now() - start;
    if (elapsed > 500) return (iterations * 1000) / elapsed;
    iterations = elapsed < 100 ? iterations * 10 : Math.ceil((iterations * 1000) / Math.max(elapsed, 1));
  }
}

function uuid4(): string {
  const b = randomBytes(16);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const usage = (message: string, field: string, value: number | string): never => {
  throw new DiskImgError('usage', message, { field, value });
};

/** The cipher a create request asks for, with QEMU's defaults (aes-256-xts-plain64, sha256). */
export function luksCreateSpec(o: LuksCreateOptions): { cipher: CipherSpec; hash: HashAlg; modeSpec: string } {
  const alg = o.cipherAlg ?? 'aes-256';
  const mode = o.cipherMode ?? 'xts';
  const ivgen = o.ivgenAlg ?? 'plain64';
  const ivgenHash = o.ivgenHashAlg ?? (ivgen === 'essiv' ? 'sha256' : undefined);
  const cipher: CipherSpec = { alg, mode, ivgen };
  if (ivgen === 'essiv') {
    cipher.ivgenHash = ivgenHash;
    cipher.ivgenAlg = essivCipher(alg, ivgenHash!);
  }
  requireSupported(cipher);
  return { cipher, hash: o.hashAlg ?? 'sha256', modeSpec: ivgenHash ? `${mode}-${ivgen}:${ivgenHash}` : `${mode}-${ivgen}` };
}

/**
 * Bytes a new LUKS volume's header region takes (header and 8 key slots): where its payload
 * starts. Only the key length matters, so ciphers diskimg cannot run are measured too.
 */
export function luksPayloadBytes(o: Pick<LuksCreateOptions, 'cipherAlg' | 'cipherMode'>): number {
  const keyBytes = cipherKeyLength(o.cipherAlg ?? 'aes-256') * ((o.cipherMode ?? 'xts') === 'xts' ? 2 : 1);
  return (HEADER_SECTORS + LUKS_SLOTS * splitKeySectors(keyBytes, LUKS_STRIPES)) * SECTOR;
}

/** qcrypto_block_luks_create: a new master key, its digest, and key slot 0 for the passphrase. */
export async function createLuks(passphrase: string | Uint8Array, o: LuksCreateOptions, provider: CryptoProvider): Promise<LuksVolume> {
  const { cipher, hash, modeSpec } = luksCreateSpec(o);
  const iterTime = o.iterTime ?? DEFAULT_ITER_TIME_MS;
  if (!Number.isSafeInteger(iterTime) || iterTime <= 0)
    usage(`Parameter 'encrypt.iter-time' expects a positive number of milliseconds`, 'encrypt.iter-time', iterTime);
  const keyBytes = cipherKeyLength(cipher.alg) * (cipher.mode === 'xts' ? 2 : 1);
  const password = passphraseBytes(passphrase);
  const masterKey = randomBytes(keyBytes);
  const masterKeySalt = randomBytes(SALT_BYTES);
  const slotSalt = randomBytes(SALT_BYTES);

  let masterKeyIterations = o.masterKeyIterations;
  let slotIterations = o.slotIterations;
  if (masterKeyIterations === undefined || slotIterations === undefined) {
    const rate = await pbkdf2Rate(provider, hash);
    const blocks = (n: number) => Math.ceil(n / digestLength(hash));
    masterKeyIterations ??= Math.floor(((rate / blocks(DIGEST_BYTES)) * iterTime) / 1000 / 8);
    slotIterations ??= Math.floor(((rate / blocks(keyBytes)) * iterTime) / 1000);
  }
  masterKeyIterations = Math.min(0xffffffff, Math.max(MIN_ITERATIONS, masterKeyIterations));
  slotIterations = Math.min(0xffffffff, Math.max(MIN_ITERATIONS, slotIterations));
  const masterKeyDigest = await provider.pbkdf2(hash, masterKey, masterKeySalt, masterKeyIterations, DIGEST_BYTES);

  const slotSectors = splitKeySectors(keyBytes, LUKS_STRIPES);
  const payloadOffsetSector = HEADER_SECTORS + LUKS_SLOTS * slotSectors;
  const region = new Uint8Array(payloadOffsetSector * SECTOR);
  const v = new DataView(region.buffer);
  const ascii = (text: string, at: number) => region.set(new TextEncoder().encode(text), at);
  region.set(LUKS_MAGIC, 0);
  v.setUint16(6, 1);
  ascii(cipher.alg.slice(0, cipher.alg.indexOf('-')), 8);
  ascii(modeSpec, 40);
  ascii(hash, 72);
  v.setUint32(104, payloadOffsetSector);
  v.setUint32(108, keyBytes);
  region.set(masterKeyDigest, 112);
  region.set(masterKeySalt, 132);
  v.setUint32(164, masterKeyIterations);
  ascii(uuid4(), 168);
  for (let i = 0; i < LUKS_SLOTS; i++) {
    const at = 208 + i * 48;
    v.setUint32(at, i === 0 ? SLOT_ENABLED : SLOT_DISABLED);
    if (i === 0) {
      v.setUint32(at + 4, slotIterations);
      region.set(slotSalt, at + 8);
    }
    v.setUint32(at + 40, HEADER_SECTORS + i * slotSectors);
    v.setUint32(at + 44, LUKS_STRIPES);
  }
  const slotKey = await provider.pbkdf2(hash, password, slotSalt, slotIterations, keyBytes);
  const material = cipherKeyMaterial(cipher, slotKey, provider, afSplit(hash, masterKey, LUKS_STRIPES), true);
  region.set(material, HEADER_SECTORS * SECTOR);
  return { region, header: parseLuksHeader(region), masterKey };
}

/** Reads and writes inside the LUKS header region (offsets from its start). */
export interface LuksRegion {
  read: LuksReader;
  write(offset: number, bytes: Uint8Array): Promise<void>;
  /** Returns once every write before it is on disk. */
  sync(): Promise<void>;
}

/** qcrypto_block_luks_load_key for one slot: whether `passphrase` opens it. */
export async function luksSlotOpens(
  h: LuksHeader,
  slot: number,
  passphrase: string | Uint8Array,
  read: LuksReader,
  provider: CryptoProvider,
): Promise<boolean> {
  const s = h.slots[slot];
  if (!s.active) return false;
  checkIterations(s.iterations, `Keyslot ${slot}`, { offset: 208 + slot * 48 + 4 });
  const slotKey = await provider.pbkdf2(h.hash, passphraseBytes(passphrase), s.salt, s.iterations, h.keyBytes);
  const split = cipherKeyMaterial(h.cipher, slotKey, provider, await read(s.keyOffsetSector * SECTOR, h.keyBytes * s.stripes), false);
  const masterKey = afMerge(h.hash, h.keyBytes, s.stripes, split);
  return equalBytes(await provider.pbkdf2(h.hash, masterKey, h.masterKeySalt, h.masterKeyIterations, DIGEST_BYTES), h.masterKeyDigest);
}

/** The slot fields of the 592-byte header as QEMU stores them (qcrypto_block_luks_store_header). */
async function storeSlotHeader(region: LuksRegion, slot: number, active: boolean, iterations: number, salt: Uint8Array): Promise<void> {
  const bytes = new Uint8Array(40);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, active ? SLOT_ENABLED : SLOT_DISABLED);
  v.setUint32(4, iterations);
  bytes.set(salt, 8);
  await region.write(208 + slot * 48, bytes);
  await region.sync();
}

/**
 * qcrypto_block_luks_store_key: the master key split, enciphered under a key from the new
 * passphrase and written into the slot's area, synced; only then the slot marked active.
 */
export async function luksAddKey(
  h: LuksHeader,
  region: LuksRegion,
  slot: number,
  masterKey: Uint8Array,
  passphrase: string | Uint8Array,
  iterTime: number,
  provider: CryptoProvider,
): Promise<void> {
  const rate = await pbkdf2Rate(provider, h.hash);
  const iterations = Math.min(
    0xffffffff,
    Math.max(MIN_ITERATIONS, Math.floor(((rate / Math.ceil(h.keyBytes / digestLength(h.hash))) * iterTime) / 1000)),
  );
  const salt = randomBytes(SALT_BYTES);
  const slotKey = await provider.pbkdf2(h.hash, passphraseBytes(passphrase), salt, iterations, h.keyBytes);
  const s = h.slots[slot];
  await region.write(
    s.keyOffsetSector * SECTOR,
    cipherKeyMaterial(h.cipher, slotKey, provider, afSplit(h.hash, masterKey, s.stripes), true),
  );
  await region.sync();
  await storeSlotHeader(region, slot, true, iterations, salt);
}

/** qcrypto_block_luks_erase_key: the slot marked inactive first, then its key material overwritten with random bytes. */
export async function luksEraseKey(h: LuksHeader, region: LuksRegion, slot: number): Promise<void> {
  await storeSlotHeader(region, slot, false, 0, new Uint8Array(SALT_BYTES));
  const s = h.slots[slot];
  await region.write(s.keyOffsetSector * SECTOR, randomBytes(h.keyBytes * s.stripes));
  await region.sync();
}
