/**
 * Encrypted qcow2 (crypt_method 1 "aes" and 2 "luks"): what the image says about its encryption,
 * readable without a passphrase (qemu-img info opens with NO_IO), and the sector cipher that
 * unlocking gives. LUKS keeps its header in a cluster-aligned region named by the crypto header
 * extension and numbers sectors by host offset; legacy AES has no header, uses the passphrase
 * itself as an AES-128 key and numbers sectors by guest offset (QEMU's crypt_physical_offset).
 */
import { DiskImgError } from '../../errors.ts';
import {
  LUKS_HEADER_BYTES,
  createLuks,
  parseLuksHeader,
  passphraseBytes,
  unlockLuks,
  type LuksCreateOptions,
  type LuksHeader,
} from '../../crypto/luks.ts';
import { portableCrypto, type CryptoProvider } from '../../crypto/provider.ts';
import { createSectorCipher, SECTOR, type SectorCipher } from '../../crypto/sector-cipher.ts';
import type { Storage } from '../../storage/storage.ts';
import type { Extensions } from './extensions.ts';
import { CRYPT_AES, CRYPT_LUKS, type Qcow2Header } from './header.ts';

export type EncryptionFormat = 'aes' | 'luks';

export interface Qcow2Encryption {
  format: EncryptionFormat;
  /** LUKS: the parsed header (cipher, hash, key slots). */
  luks?: LuksHeader;
  /** True when the IV's sector number comes from the host offset (LUKS), false for the guest offset (aes). */
  physicalSectors: boolean;
}

/** Reads and checks what the image says about its encryption (no passphrase needed). */
export async function readEncryption(storage: Storage, header: Qcow2Header, extensions: Extensions): Promise<Qcow2Encryption | undefined> {
  if (header.cryptMethod === CRYPT_AES) return { format: 'aes', physicalSectors: false };
  if (header.cryptMethod !== CRYPT_LUKS) return undefined;
  const region = extensions.crypto!;
  if (region.offset % header.clusterSize !== 0) {
    throw new DiskImgError(
      'invalid-format',
      `Encryption header offset '${region.offset}' is not a multiple of cluster size '${header.clusterSize}'`,
      { field: 'crypto header', value: region.offset },
    );
  }
  const luks = parseLuksHeader(await readRegion(storage, region, 0, LUKS_HEADER_BYTES));
  return { format: 'luks', luks, physicalSectors: true };
}

/** qcow2_crypto_hdr_read_func: reads inside the region the extension names, never past it. */
async function readRegion(
  storage: Storage,
  region: { offset: number; length: number },
  offset: number,
  length: number,
): Promise<Uint8Array> {
  if (offset + length > region.length) {
    throw new DiskImgError('corrupt', 'Request for data outside of extension header', {
      field: 'crypto header',
      offset: region.offset + offset,
      value: region.length,
    });
  }
  return storage.read(region.offset + offset, length);
}

/**
 * The passphrase → the cipher for the image's data. LUKS checks the passphrase against its key
 * slots ('wrong-passphrase' when none opens); legacy AES cannot tell a wrong passphrase.
 */
export async function unlockEncryption(
  encryption: Qcow2Encryption,
  storage: Storage,
  extensions: Extensions,
  passphrase: string | Uint8Array,
  provider: CryptoProvider,
): Promise<SectorCipher> {
  if (encryption.format === 'aes') {
    const key = new Uint8Array(16);
    key.set(passphraseBytes(passphrase).subarray(0, 16));
    return createSectorCipher({ alg: 'aes-128', mode: 'cbc', ivgen: 'plain64' }, key, provider);
  }
  const luks = encryption.luks!;
  const masterKey = await unlockLuks(
    luks,
    passphrase,
    (offset, length) => readRegion(storage, extensions.crypto!, offset, length),
    provider,
  );
  return createSectorCipher(luks.cipher, masterKey, provider);
}

/**
 * Reads guest bytes of one data extent and deciphers them: `host` and `guest` are where they
 * start; the read is widened to whole sectors and cut back.
 */
export async function readDecrypted(
  storage: Storage,
  cipher: SectorCipher,
  physical: boolean,
  host: number,
  guest: number,
  target: Uint8Array,
): Promise<void> {
  const lead = host % SECTOR;
  const start = host - lead;
  const end = Math.ceil((host + target.length) / SECTOR) * SECTOR;
  const sector = (physical ? start : guest - lead) / SECTOR;
  if (lead === 0 && end - start === target.length) {
    if (storage.readInto) await storage.readInto(start, target);
    else target.set(await storage.read(start, target.length));
    cipher.decrypt(target, sector);
    return;
  }
  const bytes = await storage.read(start, end - start);
  cipher.decrypt(bytes, sector);
  target.set(bytes.subarray(lead, lead + target.length));
}

/** What a qcow2 writer needs to write a LUKS-encrypted image: the header region and the data cipher. */
export interface WriterEncryption {
  format: 'luks';
  /** The LUKS header region (payload_offset bytes), placed in clusters after the L1 table. */
  region: Uint8Array;
  cipher: SectorCipher;
  header: LuksHeader;
}

export interface EncryptRequest extends LuksCreateOptions {
  format: 'luks';
  passphrase: string | Uint8Array;
}

/**
 * A new LUKS volume (random master key and salts, PBKDF2 timed to iterTime as qemu-img does) and
 * its data cipher. Made once per output: both passes of a sequential conversion use the same.
 */
export async function prepareEncryption(request: EncryptRequest, provider: CryptoProvider = portableCrypto()): Promise<WriterEncryption> {
  if (request.format !== 'luks')
    throw new DiskImgError('unsupported', `Writing encryption format '${request.format as string}' is not supported (only luks is)`, {
      field: 'encrypt.format',
      value: request.format,
    });
  const volume = await createLuks(request.passphrase, request, provider);
  return {
    format: 'luks',
    region: volume.region,
    header: volume.header,
    cipher: createSectorCipher(volume.header.cipher, volume.masterKey, provider),
  };
}
