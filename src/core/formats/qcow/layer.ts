/**
 * A qcow (version 1) file as one layer (qemu's block/qcow.c): a two-level table maps guest
 * clusters to host clusters, whole clusters may be stored deflated, unallocated ones ask the
 * backing file. Legacy AES images decipher with the passphrase as the key, as qcow2's do.
 */
import { portableDecoders, type ClusterDecoders } from '../../codecs/decoders.ts';
import { portableCrypto, type CryptoProvider } from '../../crypto/provider.ts';
import { passphraseBytes } from '../../crypto/luks.ts';
import { createSectorCipher, type SectorCipher } from '../../crypto/sector-cipher.ts';
import { DiskImgError } from '../../errors.ts';
import type { Extent, FormatFacts, Layer } from '../../image.ts';
import { readInto, type Storage } from '../../storage/storage.ts';
import { readDecrypted } from '../qcow2/encryption.ts';
import { merged } from '../extents.ts';
import { TablePages } from '../tables.ts';
import { CRYPT_AES, HEADER_BYTES, backingName, checkBackingName, parseHeader, type QcowHeader } from './header.ts';

export class QcowLayer implements Layer {
  readonly format = 'qcow';
  readonly virtualSize: number;
  readonly encryption: 'aes' | undefined;
  private readonly tables: TablePages;
  private cipher?: SectorCipher;
  private lastCluster?: { hostOffset: number; bytes: Uint8Array };

  private constructor(
    readonly storage: Storage,
    readonly header: QcowHeader,
    readonly backingFilename: string | undefined,
    private readonly decoders: ClusterDecoders | undefined,
  ) {
    this.virtualSize = Math.floor(header.size / 512) * 512;
    this.encryption = header.cryptMethod === CRYPT_AES ? 'aes' : undefined;
    this.tables = new TablePages(storage);
  }

  static async open(storage: Storage, decoders?: ClusterDecoders): Promise<QcowLayer> {
    const header = parseHeader(await storage.read(0, HEADER_BYTES));
    checkBackingName(header);
    const name =
      header.backingFileOffset !== 0 ? backingName(await storage.read(header.backingFileOffset, header.backingFileSize)) : undefined;
    return new QcowLayer(storage, header, name, decoders);
  }

  get clusterSize(): number {
    return this.header.clusterSize;
  }

  get codecs(): readonly string[] {
    return ['zlib'];
  }

  describe(): Promise<FormatFacts> {
    const facts: FormatFacts = { 'cluster-size': this.header.clusterSize };
    if (this.encryption) facts.encrypted = true;
    return Promise.resolve(facts);
  }

  /** Encrypted clusters' host bytes are not the guest's: qemu's map shows no offset for them. */
  hostFile(): string | undefined {
    return this.encryption ? undefined : this.storage.name;
  }

  get locked(): boolean {
    return this.encryption !== undefined && this.cipher === undefined;
  }

  /** Legacy AES cannot tell a wrong passphrase: it reads garbage, as qemu does. */
  async unlock(passphrase: string | Uint8Array, crypto: CryptoProvider = portableCrypto()): Promise<void> {
    if (!this.encryption) return;
    const key = new Uint8Array(16);
    key.set(passphraseBytes(passphrase).subarray(0, 16));
    this.cipher = await createSectorCipher({ alg: 'aes-128', mode: 'cbc', ivgen: 'plain64' }, key, crypto);
  }

  needsPassphrase(): DiskImgError {
    return new DiskImgError('needs-passphrase', 'The image is encrypted (aes): its passphrase is needed to read it', {
      file: this.storage.name,
      field: 'encrypt.key-secret',
    });
  }

  mappings(start: number, end: number): AsyncGenerator<Extent> {
    return merged(this.pieces(start, Math.min(end, this.virtualSize)));
  }

  private async *pieces(start: number, end: number): AsyncGenerator<Extent> {
    const h = this.header;
    // L1 entries past the end of the file read as zeros (qemu's file reads do): all unallocated.
    const lastL1InFile = Math.floor((this.storage.size - h.l1TableOffset) / 8);
    let guest = start;
    while (guest < end) {
      const l1Index = Math.floor(guest / h.l2Coverage);
      if (l1Index >= lastL1InFile) {
        yield { start: guest, length: end - guest, kind: 'unallocated', depth: 0 };
        return;
      }
      const tableStart = l1Index * h.l2Coverage;
      const tableEnd = Math.min(end, tableStart + h.l2Coverage);
      const [l1hi, l1lo] = await this.tables.u64beHalves(h.l1TableOffset + l1Index * 8);
      const l2 = l1hi * 0x1_0000_0000 + l1lo;
      // An L2 table past the end of the file reads as zeros in qemu: all unallocated.
      if (l2 === 0 || l2 >= this.storage.size) {
        yield { start: guest, length: tableEnd - guest, kind: 'unallocated', depth: 0 };
        guest = tableEnd;
        continue;
      }
      while (guest < tableEnd) {
        const index = Math.floor((guest - tableStart) / h.clusterSize);
        const clusterStart = tableStart + index * h.clusterSize;
        const length = Math.min(tableEnd, clusterStart + h.clusterSize) - guest;
        const [hi, lo] = await this.tables.u64beHalves(l2 + index * 8);
        yield this.piece(hi, lo, guest, length, clusterStart, l2 + index * 8);
        guest += length;
      }
    }
  }

  private piece(hi: number, lo: number, start: number, length: number, clusterStart: number, at: number): Extent {
    if (hi === 0 && lo === 0) return { start, length, kind: 'unallocated', depth: 0 };
    const bits = this.header.clusterBits;
    if (hi & 0x8000_0000) {
      // Compressed: the low 63 - cluster_bits bits are the offset, the next cluster_bits the size.
      const entry = (BigInt(hi) << 32n) | BigInt(lo);
      const hostOffset = Number(entry & ((1n << BigInt(63 - bits)) - 1n));
      const compressedLength = Number((entry >> BigInt(63 - bits)) & BigInt(this.header.clusterSize - 1));
      if (hostOffset > Number.MAX_SAFE_INTEGER) this.badEntry(hi, lo, at);
      return { start, length, kind: 'compressed', depth: 0, hostOffset, compressedLength, clusterStart };
    }
    const cluster = hi * 0x1_0000_0000 + lo;
    if (cluster > Number.MAX_SAFE_INTEGER) this.badEntry(hi, lo, at);
    return { start, length, kind: 'data', depth: 0, hostOffset: cluster + (start - clusterStart) };
  }

  private badEntry(hi: number, lo: number, at: number): never {
    const value = `0x${((BigInt(hi) << 32n) | BigInt(lo)).toString(16)}`;
    throw new DiskImgError('corrupt', `qcow L2 entry ${value} at offset 0x${at.toString(16)} points past any file`, {
      file: this.storage.name,
      field: 'L2 entry',
      offset: at,
      value,
    });
  }

  async readExtent(extent: Extent, start: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.readExtentInto(extent, start, out);
    return out;
  }

  async readExtentInto(extent: Extent, start: number, target: Uint8Array): Promise<void> {
    if (extent.kind === 'compressed') {
      const cluster = await this.decompress(extent);
      const from = start - extent.clusterStart!;
      target.set(cluster.subarray(from, from + target.length));
      return;
    }
    if (extent.kind !== 'data') {
      target.fill(0);
      return;
    }
    const host = extent.hostOffset! + (start - extent.start);
    // qemu refuses a data cluster that does not start on a sector (EIO).
    if ((extent.hostOffset! - extent.start) % 512 !== 0) {
      const cluster = extent.hostOffset! - (extent.start % this.header.clusterSize);
      throw new DiskImgError(
        'corrupt',
        `qcow data cluster at host offset 0x${cluster.toString(16)} (guest offset 0x${(start - (start % this.header.clusterSize)).toString(16)}) is not sector-aligned`,
        { file: this.storage.name, field: 'L2 entry', offset: cluster, value: cluster },
      );
    }
    if (this.encryption) {
      if (!this.cipher) throw this.needsPassphrase();
      await readDecrypted(this.storage, this.cipher, false, host, start, target);
    } else await readInto(this.storage, host, target);
  }

  /** The whole cluster, deflated as qemu writes it (raw deflate, 4 KiB window); the last one is kept. */
  private async decompress(extent: Extent): Promise<Uint8Array> {
    const hostOffset = extent.hostOffset!;
    if (this.lastCluster?.hostOffset === hostOffset) return this.lastCluster.bytes;
    const input = await this.storage.read(hostOffset, extent.compressedLength!);
    const decoded = await (this.decoders ?? portableDecoders()).zlib(input, new Uint8Array(this.header.clusterSize));
    if (!decoded) {
      throw new DiskImgError(
        'corrupt',
        `qcow compressed cluster at host offset 0x${hostOffset.toString(16)} (guest offset 0x${extent.clusterStart!.toString(16)}) does not decompress to ${this.header.clusterSize} bytes`,
        {
          file: this.storage.name,
          field: 'compressed cluster',
          offset: hostOffset,
        },
      );
    }
    this.lastCluster = { hostOffset, bytes: decoded };
    return decoded;
  }
}
