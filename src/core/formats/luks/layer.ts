/**
 * A standalone LUKS volume (qemu's "luks" driver, block/crypto.c): the LUKS1 header, key
 * material, then the payload — the guest disk enciphered sector by sector. The guest disk is the
 * file from the payload offset on; sector numbers for the IV count from the payload's start.
 * There is no allocation map: every byte of the disk is data (QEMU's map says so too).
 */
import { luksInfo, parseLuksHeader, LUKS_HEADER_BYTES, unlockLuks, type LuksHeader } from '../../crypto/luks.ts';
import { portableCrypto, type CryptoProvider } from '../../crypto/provider.ts';
import { createSectorCipher, SECTOR, type SectorCipher } from '../../crypto/sector-cipher.ts';
import { DiskImgError } from '../../errors.ts';
import type { Extent, FormatFacts, Layer } from '../../image.ts';
import type { Storage } from '../../storage/storage.ts';
import { readDecrypted } from '../qcow2/encryption.ts';

export class LuksLayer implements Layer {
  readonly format = 'luks';
  readonly encryption = 'luks';
  readonly virtualSize: number;
  readonly payloadOffset: number;
  private cipher?: SectorCipher;

  private constructor(
    readonly storage: Storage,
    readonly header: LuksHeader,
  ) {
    this.payloadOffset = header.payloadOffsetSector * SECTOR;
    // bdrv_getlength of the file (whole sectors) less the payload offset.
    this.virtualSize = Math.ceil(storage.size / SECTOR) * SECTOR - this.payloadOffset;
  }

  static async open(storage: Storage): Promise<LuksLayer> {
    const header = await withFile(storage, async () => parseLuksHeader(await storage.read(0, LUKS_HEADER_BYTES)));
    const layer = new LuksLayer(storage, header);
    if (layer.virtualSize < 0) {
      // block_crypto_co_getlength fails with EIO when the file ends before the payload starts.
      throw new DiskImgError('corrupt', 'Could not refresh total sector count: Input/output error', {
        file: storage.name,
        field: 'payload_offset',
        offset: 104,
        value: layer.payloadOffset,
      });
    }
    return layer;
  }

  get locked(): boolean {
    return this.cipher === undefined;
  }

  async unlock(passphrase: string | Uint8Array, crypto: CryptoProvider = portableCrypto()): Promise<void> {
    // Key material past the end of the file reads as zeros, as QEMU's file protocol reads it.
    const masterKey = await withFile(this.storage, () =>
      unlockLuks(this.header, passphrase, (offset, length) => this.storage.read(offset, length), crypto),
    );
    this.cipher = createSectorCipher(this.header.cipher, masterKey, crypto);
  }

  needsPassphrase(): DiskImgError {
    return new DiskImgError('needs-passphrase', "Parameter 'key-secret' is required for cipher", {
      file: this.storage.name,
      field: 'key-secret',
    });
  }

  describe(): Promise<FormatFacts> {
    const { format: _format, ...data } = luksInfo(this.header);
    return Promise.resolve({ encrypted: true, 'format-specific': { type: 'luks', data } });
  }

  /** Encrypted host bytes say nothing of the guest's: QEMU's map shows no offset. */
  hostFile(): string | undefined {
    return undefined;
  }

  async *mappings(start: number, end: number): AsyncGenerator<Extent> {
    end = Math.min(end, this.virtualSize);
    if (start < end) yield { start, length: end - start, kind: 'data', depth: 0, hostOffset: this.payloadOffset + start };
  }

  async readExtent(extent: Extent, start: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.readExtentInto(extent, start, out);
    return out;
  }

  async readExtentInto(extent: Extent, start: number, target: Uint8Array): Promise<void> {
    if (extent.kind !== 'data') {
      target.fill(0);
      return;
    }
    if (!this.cipher) throw this.needsPassphrase();
    await readDecrypted(this.storage, this.cipher, false, this.payloadOffset + start, start, target);
  }
}

async function withFile<T>(storage: Storage, work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof DiskImgError && !error.context.file)
      throw new DiskImgError(error.kind, error.message, { ...error.context, file: storage.name });
    throw error;
  }
}
