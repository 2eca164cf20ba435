/**
 * The public face of the engine: an opened disk is a chain of format layers (the image, its
 * backing file, its backing file's backing file, …) read as one guest disk.
 */
import type { Extent, Layer } from './image.ts';
import type { ClusterDecoders } from './codecs/decoders.ts';
import type { CryptoProvider } from './crypto/provider.ts';
import type { Storage } from './storage/storage.ts';

export interface DiskImage {
  /** layers[0] is the image that was opened; layers[i + 1] is layers[i]'s backing file. */
  readonly layers: readonly Layer[];
  readonly virtualSize: number;
  /** With partialChain: the backing file the bottom layer names and that could not be found. */
  readonly missingBacking?: string;
  /**
   * The guest disk in order, each extent attributed to the layer that decides it (`depth`).
   * `unallocated` remains only where no layer holds anything: it reads as zeros.
   */
  mappings(start?: number, end?: number): AsyncGenerator<Extent>;
  /** Reads guest bytes; `length` is kept small by callers (a few MiB). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Reads guest bytes into `target`, so a pipeline can reuse its buffers. */
  readInto(offset: number, target: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** Finds the storage for a backing file name as stored in `overlay` (null when it cannot be found). */
export type BackingResolver = (name: string, overlay: Storage) => Promise<Storage | null>;

export interface OpenOptions {
  /** Force a format ('raw', 'qcow2') instead of probing. */
  format?: string;
  /** How to find backing files; without it, an image with a backing file fails to open with a clear error. */
  resolveBacking?: BackingResolver;
  /** Do not open backing files at all (qemu-img info without --backing-chain). */
  noBacking?: boolean;
  /**
   * Stop the chain at the first backing file that cannot be found, instead of failing: the disk
   * is read as far as it is known (the page, while it asks for the missing file).
   */
  partialChain?: boolean;
  /** Read the disk as it was at this internal snapshot (id or name, as qemu-img -l). */
  snapshot?: string;
  /**
   * How to find a file an image names as part of itself — a qcow2's external data file, a VMDK's
   * extents (defaults to resolveBacking).
   */
  resolveFile?: BackingResolver;
  /** Faster compressed-cluster decoders than the portable defaults. */
  decoders?: ClusterDecoders;
  /**
   * Passphrases for encrypted qcow2 images (LUKS or legacy AES): one for every encrypted image of
   * the chain, or a function asked for each one (return undefined to leave that one locked).
   * Unlocking a LUKS image costs its PBKDF2 time (up to a few seconds) during the open.
   */
  passphrase?: PassphraseSource;
  /**
   * Open encrypted images that have no passphrase anyway (qemu-img info does): their metadata,
   * info, check and map work; reading their data fails with 'needs-passphrase'. Without this, such
   * an open fails at once with 'needs-passphrase'.
   */
  allowLocked?: boolean;
  /**
   * Which disk of an OVA to read: 0-based, in the order its OVF's DiskSection lists them
   * (the first by default).
   */
  ovaDisk?: number;
  /**
   * Open for qemu-img check (QEMU's BDRV_O_CHECK): a format whose open refuses damaged tables
   * (VHDX's BAT) opens the image anyway, so check can report what is wrong.
   */
  forCheck?: boolean;
  /** Faster PBKDF2 and AES than the portable defaults (Node's native crypto in the CLI). */
  crypto?: CryptoProvider;
}

export type Passphrase = string | Uint8Array;

/** Which encrypted image a passphrase is asked for. */
export interface EncryptedImageRef {
  /** The storage's name (the file name). */
  name: string;
  /** 0 for the opened image, 1 for its backing file, … */
  depth: number;
  /** The encryption's name ('luks', 'aes'). */
  format: string;
}

export type PassphraseSource = Passphrase | ((image: EncryptedImageRef) => Passphrase | undefined | Promise<Passphrase | undefined>);
