/**
 * A qcow2 file as one layer: header, extensions, snapshots, and the guest → host mapping through
 * the L1 and L2 tables. Read-only: there is no allocator here.
 */
import { merged } from '../extents.ts';
import { cHex, hex, utf8, view } from '../../bytes.ts';
import { portableDecoders, type ClusterDecoders } from '../../codecs/decoders.ts';
import { DiskImgError } from '../../errors.ts';
import type { CheckResult, Extent, FormatFacts, Layer, SnapshotInfo } from '../../image.ts';
import { readInto, type Storage } from '../../storage/storage.ts';
import { compressedDescriptor, entryOffset, subclusterType, type SubclusterType } from './entries.ts';
import { parseExtensions, type Extensions } from './extensions.ts';
import {
  CRYPT_AES,
  CRYPT_LUKS,
  CRYPT_NONE,
  INCOMPAT_DATA_FILE,
  KNOWN_HEADER_LENGTH,
  MAX_BACKING_NAME,
  MAX_L1_BYTES,
  hasIncompat,
  parseHeader,
  validateFeatures,
  validateTable,
  validateTables,
  type Qcow2Header,
} from './header.ts';
import { L2Cache } from './l2-cache.ts';
import { readDecrypted, readEncryption, unlockEncryption, type Qcow2Encryption } from './encryption.ts';
import { portableCrypto, type CryptoProvider } from '../../crypto/provider.ts';
import type { SectorCipher } from '../../crypto/sector-cipher.ts';
import { findSnapshot, readSnapshots, type Snapshot, type SnapshotWanted } from './snapshots.ts';
import { describeQcow2, snapshotInfo } from './describe.ts';
import { checkQcow2 } from './check.ts';

export interface Qcow2OpenOptions {
  /** Storage of the external data file, when the image has one. */
  dataFile?: Storage;
  /** Use this snapshot's L1 table instead of the active one (id or name, QEMU's lookup). */
  snapshot?: SnapshotWanted;
  /** Faster cluster decoders than the portable ones, where the platform has them. */
  decoders?: ClusterDecoders;
  /** The passphrase of an encrypted image; without it the layer stays locked. */
  passphrase?: string | Uint8Array;
  /** Faster PBKDF2 and AES than the portable ones, where the platform has them. */
  crypto?: CryptoProvider;
}

const corrupt = (message: string, context: Record<string, unknown>): never => {
  throw new DiskImgError('corrupt', message, context);
};

export class Qcow2Layer implements Layer {
  readonly format = 'qcow2';
  /** Reads share only the L2 cache (filled whole before use) and the last decoded cluster. */
  readonly concurrentReads = true;
  readonly backingFilename?: string;
  readonly backingFormat?: string;
  /** The external data file's name as stored in the image. */
  readonly dataFileName?: string;
  readonly hasDataFile: boolean;
  readonly encryption: 'aes' | 'luks' | undefined;
  /** What the image says about its encryption (LUKS header included), readable while locked. */
  encryptionInfo?: Qcow2Encryption;
  /** Deciphers data clusters once the layer is unlocked. */
  private cipher?: SectorCipher;
  private readonly l2Cache: L2Cache;
  private decoders?: ClusterDecoders;
  private lastCluster?: { hostOffset: number; bytes: Uint8Array };

  private constructor(
    readonly storage: Storage,
    readonly header: Qcow2Header,
    readonly extensions: Extensions,
    readonly snapshots: Snapshot[],
    private readonly l1: DataView,
    /** Where guest data lives: the image itself, or its external data file. */
    readonly dataStorage: Storage,
    backingFilename: string | undefined,
    /** The snapshot whose disk this layer reads, if not the active one. */
    readonly loadedSnapshot?: Snapshot,
  ) {
    this.backingFilename = backingFilename;
    this.backingFormat = extensions.backingFormat;
    this.dataFileName = extensions.dataFile;
    this.hasDataFile = hasIncompat(header, INCOMPAT_DATA_FILE);
    this.encryption = header.cryptMethod === CRYPT_AES ? 'aes' : header.cryptMethod === CRYPT_LUKS ? 'luks' : undefined;
    this.l2Cache = new L2Cache(storage, header.clusterSize);
  }

  get virtualSize(): number {
    return this.header.virtualSize;
  }

  get clusterSize(): number {
    return this.header.clusterSize;
  }

  get statusSplit(): number {
    return this.header.l2Coverage;
  }

  get codecs(): readonly string[] {
    return [this.header.compressionType];
  }

  get otherFiles(): readonly string[] {
    return this.dataStorage === this.storage ? [] : [this.dataStorage.name];
  }

  /** Encrypted clusters' host bytes are not the guest's: QEMU's map shows no offset for them. */
  hostFile(): string | undefined {
    return this.encryption ? undefined : this.dataStorage.name;
  }

  describe(): Promise<FormatFacts> {
    return describeQcow2(this);
  }

  check(): Promise<CheckResult> {
    return checkQcow2(this);
  }

  listSnapshots(): SnapshotInfo[] {
    return this.snapshots.map(snapshotInfo);
  }

  /** Reads the metadata (header, extensions, backing name, snapshots, L1) and checks it as QEMU does. */
  static async readMetadata(
    storage: Storage,
  ): Promise<{ header: Qcow2Header; extensions: Extensions; backingFilename?: string; cluster0: Uint8Array }> {
    const head = await storage.read(0, KNOWN_HEADER_LENGTH);
    const header = parseHeader(head);
    const cluster0 = await storage.read(0, header.clusterSize);
    // QEMU reads the feature table before it refuses unknown features, so it can name them.
    const extensions = parseExtensions(header, cluster0);
    validateFeatures(header, extensions.featureNames);
    validateTables(header);
    if (header.cryptMethod !== CRYPT_NONE && header.cryptMethod !== CRYPT_AES && header.cryptMethod !== CRYPT_LUKS) {
      throw new DiskImgError('unsupported', `Unsupported encryption method: ${header.cryptMethod}`, {
        field: 'crypt_method',
        offset: 32,
        value: header.cryptMethod,
      });
    }
    if (header.cryptMethod === CRYPT_LUKS && !extensions.crypto) {
      throw new DiskImgError('invalid-format', 'Missing CRYPTO header for crypt method 2', { field: 'crypt_method', offset: 32 });
    }
    let backingFilename: string | undefined;
    if (header.backingFileOffset !== 0) {
      const { backingFileOffset: at, backingFileSize: size } = header;
      if (size > MAX_BACKING_NAME || at + size > header.clusterSize) {
        throw new DiskImgError('limit', 'Backing file name too long', { field: 'backing_file_size', offset: 16, value: size });
      }
      backingFilename = utf8(cluster0.subarray(at, at + size));
    }
    return { header, extensions, backingFilename, cluster0 };
  }

  static async open(storage: Storage, options: Qcow2OpenOptions = {}): Promise<Qcow2Layer> {
    const { header, extensions, backingFilename } = await Qcow2Layer.readMetadata(storage);
    const snapshots = await readSnapshots(storage, header);
    let l1Offset = header.l1TableOffset;
    let l1Size = header.l1Size;
    let loaded: Snapshot | undefined;
    if (options.snapshot) {
      loaded = findSnapshot(snapshots, options.snapshot);
      if (!loaded)
        throw new DiskImgError('not-found', "Failed to load snapshot: Can't find snapshot", {
          field: 'snapshot',
          value: options.snapshot.id ?? options.snapshot.name ?? options.snapshot.idOrName,
        });
      try {
        validateTable(loaded.l1TableOffset, loaded.l1Size, 8, MAX_L1_BYTES, header.clusterSize, 'Snapshot L1 table');
      } catch (error) {
        throw new DiskImgError('corrupt', `Failed to load snapshot: ${(error as Error).message}`, { field: 'snapshot', value: loaded.id });
      }
      l1Offset = loaded.l1TableOffset;
      l1Size = loaded.l1Size;
    }
    const l1 = view(await storage.read(l1Offset, l1Size * 8));
    const hasDataFile = hasIncompat(header, INCOMPAT_DATA_FILE);
    if (hasDataFile && !options.dataFile) {
      throw new DiskImgError('not-found', extensions.dataFile ? `Could not open data file '${extensions.dataFile}'` : 'Missing data file', {
        field: 'data_file',
      });
    }
    const layer = new Qcow2Layer(
      storage,
      header,
      extensions,
      snapshots,
      l1,
      hasDataFile ? options.dataFile! : storage,
      backingFilename,
      loaded,
    );
    layer.decoders = options.decoders;
    layer.encryptionInfo = await readEncryption(storage, header, extensions);
    if (layer.encryptionInfo && options.passphrase !== undefined) await layer.unlock(options.passphrase, options.crypto);
    return layer;
  }

  /** True while an encrypted layer has no key: metadata reads work, data reads fail. */
  get locked(): boolean {
    return this.encryptionInfo !== undefined && this.cipher === undefined;
  }

  /**
   * Unlocks an encrypted layer with its passphrase. A LUKS passphrase that opens no key slot is a
   * DiskImgError of kind 'wrong-passphrase' (legacy AES cannot tell, and reads garbage).
   */
  async unlock(passphrase: string | Uint8Array, crypto: CryptoProvider = portableCrypto()): Promise<void> {
    if (!this.encryptionInfo) return;
    try {
      this.cipher = await unlockEncryption(this.encryptionInfo, this.storage, this.extensions, passphrase, crypto);
    } catch (error) {
      if (error instanceof DiskImgError && !error.context.file)
        throw new DiskImgError(error.kind, error.message, { ...error.context, file: this.storage.name });
      throw error;
    }
  }

  /** Closes the external data file; the image's own storage belongs to whoever opened it. */
  async close(): Promise<void> {
    if (this.dataStorage !== this.storage) await this.dataStorage.close?.();
  }

  get l1Entries(): number {
    return this.l1.byteLength / 8;
  }

  mappings(start: number, end: number): AsyncGenerator<Extent> {
    return merged(this.pieces(start, Math.min(end, this.header.virtualSize)));
  }

  /** The guest range table by table, each table's pieces as it maps them. */
  private async *pieces(start: number, end: number): AsyncGenerator<Extent> {
    const h = this.header;
    for (let guest = start; guest < end;) {
      const l1Index = Math.floor(guest / h.l2Coverage);
      const tableEnd = Math.min(end, (l1Index + 1) * h.l2Coverage);
      yield* await this.tablePieces(l1Index, guest, tableEnd);
      guest = tableEnd;
    }
  }

  /** The extents [from, to) that one L2 table (L1 entry `l1Index`) maps. */
  private async tablePieces(l1Index: number, from: number, to: number): Promise<Extent[]> {
    const h = this.header;
    const l1hi = l1Index < this.l1Entries ? this.l1.getUint32(l1Index * 8) : 0;
    const l1lo = l1Index < this.l1Entries ? this.l1.getUint32(l1Index * 8 + 4) : 0;
    const l2Offset = entryOffset(l1hi, l1lo);
    if (l2Offset === 0) return [{ start: from, length: to - from, kind: 'unallocated', depth: 0 }];
    if (l2Offset % h.clusterSize !== 0)
      corrupt(`Image is corrupt: L2 table offset ${cHex(l2Offset)} unaligned (L1 index: ${cHex(l1Index)})`, {
        field: 'L1 entry',
        offset: h.l1TableOffset + l1Index * 8,
        value: l2Offset,
      });
    const table = view(await this.l2Cache.get(l2Offset));
    const pieces: Extent[] = [];
    const tableStart = l1Index * h.l2Coverage;
    const step = h.subclusterSize;
    let guest = from;
    while (guest < to) {
      const index = Math.floor((guest - tableStart) / h.clusterSize);
      const clusterStart = tableStart + index * h.clusterSize;
      const at = index * h.l2EntryBytes;
      const hi = table.getUint32(at);
      const lo = table.getUint32(at + 4);
      const bitmapHi = h.extendedL2 ? table.getUint32(at + 8) : 0;
      const bitmapLo = h.extendedL2 ? table.getUint32(at + 12) : 0;
      const clusterEnd = Math.min(to, clusterStart + h.clusterSize);
      // Standard L2 is one piece per cluster; extended L2 one per subcluster.
      while (guest < clusterEnd) {
        const sc = h.extendedL2 ? Math.floor((guest - clusterStart) / step) : 0;
        const pieceEnd = h.extendedL2 ? Math.min(clusterEnd, clusterStart + (sc + 1) * step) : clusterEnd;
        const type = subclusterType(h, this.hasDataFile, hi, lo, bitmapHi, bitmapLo, sc);
        pieces.push(this.piece(type, guest, pieceEnd - guest, clusterStart, hi, lo, l2Offset, index));
        guest = pieceEnd;
      }
    }
    return pieces;
  }

  private piece(
    type: SubclusterType,
    start: number,
    length: number,
    clusterStart: number,
    hi: number,
    lo: number,
    l2Offset: number,
    l2Index: number,
  ): Extent {
    const h = this.header;
    const where = { field: 'L2 entry', offset: l2Offset + l2Index * h.l2EntryBytes };
    const hostOffset = entryOffset(hi, lo) + (start - clusterStart);
    switch (type) {
      case 'compressed': {
        if (this.hasDataFile)
          corrupt(
            `Image is corrupt: Compressed cluster in an image with an external data file (L2 offset: ${cHex(l2Offset)}, L2 index: ${cHex(l2Index)})`,
            where,
          );
        const d = compressedDescriptor(h, hi, lo);
        return { start, length, kind: 'compressed', depth: 0, hostOffset: d.hostOffset, compressedLength: d.length, clusterStart };
      }
      case 'invalid':
        return corrupt(`Image is corrupt: Invalid cluster entry found  (L2 offset: ${cHex(l2Offset)}, L2 index: ${cHex(l2Index)})`, where);
      case 'zero-plain':
      case 'zero-alloc':
        if (h.version < 3)
          corrupt(
            `Image is corrupt: Zero cluster entry found in pre-v3 image (L2 offset: ${cHex(l2Offset)}, L2 index: ${cHex(l2Index)})`,
            where,
          );
        return type === 'zero-alloc' ? { start, length, kind: 'zero', depth: 0, hostOffset } : { start, length, kind: 'zero', depth: 0 };
      case 'unallocated-plain':
        return { start, length, kind: 'unallocated', depth: 0 };
      case 'unallocated-alloc':
      case 'normal': {
        const aligned = entryOffset(hi, lo);
        if (aligned % h.clusterSize !== 0) {
          corrupt(
            `Image is corrupt: Cluster allocation offset ${cHex(aligned)} unaligned (L2 offset: ${cHex(l2Offset)}, L2 index: ${cHex(l2Index)})`,
            where,
          );
        }
        return type === 'normal'
          ? { start, length, kind: 'data', depth: 0, hostOffset }
          : { start, length, kind: 'unallocated', depth: 0, hostOffset };
      }
    }
  }

  async readExtent(extent: Extent, start: number, length: number): Promise<Uint8Array> {
    if (extent.kind === 'data' && this.encryptionInfo) {
      const out = new Uint8Array(length);
      await this.readExtentInto(extent, start, out);
      return out;
    }
    if (extent.kind === 'data') return this.dataStorage.read(extent.hostOffset! + (start - extent.start), length);
    if (extent.kind !== 'compressed') return new Uint8Array(length);
    const cluster = await this.decompressCluster(extent);
    const from = start - extent.clusterStart!;
    return cluster.subarray(from, from + length);
  }

  async readExtentInto(extent: Extent, start: number, target: Uint8Array): Promise<void> {
    if (extent.kind === 'data' && this.encryptionInfo) {
      if (!this.cipher) throw this.needsPassphrase();
      await readDecrypted(
        this.dataStorage,
        this.cipher,
        this.encryptionInfo.physicalSectors,
        extent.hostOffset! + (start - extent.start),
        start,
        target,
      );
    } else if (extent.kind === 'data') await readInto(this.dataStorage, extent.hostOffset! + (start - extent.start), target);
    else if (extent.kind === 'compressed') {
      const from = start - extent.clusterStart!;
      // A whole cluster is decoded straight into the caller's buffer: no cluster-sized copy.
      const whole = from === 0 && target.length === this.header.clusterSize;
      const cluster = await this.decompressCluster(extent, whole ? target : undefined);
      if (cluster !== target) target.set(cluster.subarray(from, from + target.length));
    } else target.fill(0);
  }

  needsPassphrase(): DiskImgError {
    return new DiskImgError('needs-passphrase', `The image is encrypted (${this.encryption}): its passphrase is needed to read it`, {
      file: this.storage.name,
      field: 'encrypt.key-secret',
    });
  }

  /**
   * The cluster's bytes. Decoded into a new buffer that is kept for the next partial read of the
   * same cluster, or into `into` (the caller's, not kept).
   */
  private async decompressCluster(extent: Extent, into?: Uint8Array): Promise<Uint8Array> {
    const hostOffset = extent.hostOffset!;
    if (this.lastCluster?.hostOffset === hostOffset) return this.lastCluster.bytes;
    // Only read (the decoders copy it where they need it): a view of a cached block will do.
    const storage = this.storage;
    const length = extent.compressedLength!;
    const input = await (storage.readShared ? storage.readShared(hostOffset, length) : storage.read(hostOffset, length));
    const out = into ?? new Uint8Array(this.header.clusterSize);
    this.decoders ??= portableDecoders();
    const decoded = await this.decoders[this.header.compressionType](input, out);
    if (!decoded) {
      throw new DiskImgError(
        'corrupt',
        `Compressed cluster at host offset ${hex(hostOffset)} (guest offset ${hex(extent.clusterStart!)}) does not decompress (${this.header.compressionType}) to ${this.header.clusterSize} bytes`,
        {
          file: this.storage.name,
          offset: hostOffset,
          field: 'compressed cluster',
        },
      );
    }
    if (!into) this.lastCluster = { hostOffset, bytes: decoded };
    return decoded;
  }
}
