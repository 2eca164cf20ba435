import type { CryptoProvider } from './crypto/provider.ts';
import type { Storage } from './storage/storage.ts';

/**
 * What a guest byte range is made of, as one format layer sees it:
 * - data: bytes stored at `hostOffset` in the layer's data storage
 * - compressed: one whole cluster stored compressed at `hostOffset` (`compressedLength` bytes)
 * - zero: reads as zeros and hides anything below
 * - unallocated: this layer says nothing; the backing layer decides (zeros at the bottom)
 */
export type ExtentKind = 'data' | 'compressed' | 'zero' | 'unallocated';

export interface Extent {
  /** Guest offset in bytes. */
  start: number;
  length: number;
  kind: ExtentKind;
  /** Index of the layer that decided this extent: 0 is the image itself, 1 its backing file, … */
  depth: number;
  /** For data and compressed: where the bytes live in that layer's storage. */
  hostOffset?: number;
  /** For compressed: the bytes to read at hostOffset (sector-rounded, as QEMU reads them). */
  compressedLength?: number;
  /** For compressed: the guest offset of the cluster the extent lies in (it may cover part of it). */
  clusterStart?: number;
}

/**
 * What qemu-img info says of one layer beyond the common fields, in QAPI ImageInfo's names
 * ('cluster-size', 'dirty-flag', 'encrypted', 'snapshots', 'format-specific', …).
 */
export type FormatFacts = Record<string, unknown>;

/**
 * qemu-img check's counters and messages for one layer (QAPI ImageCheck); a counter a format does
 * not keep is 0, and JSON leaves zeros out.
 */
export interface CheckResult {
  filename: string;
  format: string;
  'check-errors': number;
  corruptions: number;
  leaks: number;
  'image-end-offset': number;
  'total-clusters': number;
  'allocated-clusters': number;
  'fragmented-clusters': number;
  'compressed-clusters': number;
  /** The per-finding lines qemu-img prints to stderr, in order. */
  messages: string[];
  /** Each leak found (a refcount above the references counted), for check -r leaks to repair. */
  leakedClusters?: LeakedCluster[];
}

export interface LeakedCluster {
  cluster: number;
  refcount: number;
  reference: number;
}

/**
 * One format's view of one file: no knowledge of the chain below it. Generic code (info, map,
 * check, conversion, the page) asks a layer these questions and never what class it is; the
 * optional members are capabilities only some formats have.
 */
export interface Layer {
  readonly format: string;
  /** The image's storage (its name is the file name shown to users). */
  readonly storage: Storage;
  readonly virtualSize: number;
  /** Name of the backing file as stored in the image, if any. */
  readonly backingFilename?: string;
  readonly backingFormat?: string;
  /**
   * Extents of this layer covering [start, end) in guest order, adjacent ones merged when they are
   * of one kind (and, for data, contiguous on the host). Depth is always 0 here.
   */
  mappings(start: number, end: number): AsyncGenerator<Extent>;
  /** Reads `length` bytes of a data or compressed extent of this layer, from guest offset `start`. */
  readExtent(extent: Extent, start: number, length: number): Promise<Uint8Array>;
  /** The same, into `target` (its length is the length to read), avoiding a new buffer. */
  readExtentInto?(extent: Extent, start: number, target: Uint8Array): Promise<void>;
  /**
   * readExtentInto may run for several extents at once (it keeps no state between reads that a
   * second one could disturb): a read of many compressed clusters then decodes them in parallel
   * where the platform's decoders run on other threads.
   */
  readonly concurrentReads?: boolean;
  /** Closes the files the layer opened itself (extents, data files); `storage` is the opener's. */
  close?(): Promise<void>;

  /** The format's variant, where it has several: a VMDK's create type, a fixed or dynamic VHD, … */
  readonly subformat?: string;
  /** qemu-img info's format-specific fields for this layer. */
  describe?(): Promise<FormatFacts>;
  /** qemu-img check of this layer; formats without it answer "does not support checks". */
  check?(): Promise<CheckResult>;
  /** The internal snapshots, as qemu-img snapshot -l lists them. */
  listSnapshots?(): SnapshotInfo[];
  /**
   * The file that holds a data extent's bytes at its hostOffset (an external data file, a VMDK
   * extent), or undefined where host offsets say nothing of the guest bytes (encrypted data).
   * Without it: `storage`.
   */
  hostFile?(extent: Extent): string | undefined;
  /** Every other file the layer reads (data files, extent files): conversion never writes over them. */
  readonly otherFiles?: readonly string[];
  /**
   * Why guest data of `backing` (the layer just below) cannot be read through this layer, if it
   * cannot: a VMDK whose parentCID is not its parent's CID (QEMU's vmdk_is_cid_valid).
   */
  backingReadError?(backing: Layer): Error | undefined;
  /** The storages of those other files where the layer opened them itself: qemu-img info's disk size counts them too. */
  readonly extraStorages?: readonly Storage[];
  /** The guest block size this layer allocates in; conversion aligns its requests to it. */
  readonly clusterSize?: number;
  /** Block status never crosses a multiple of this (a qcow2 L2 table's reach), as in QEMU. */
  readonly statusSplit?: number;
  /**
   * QEMU's driver for the format has no block status (vhdx): qemu-img map shows everything this
   * layer covers as data — present, not zero, no offset — and never asks the layers below.
   */
  readonly noBlockStatus?: boolean;
  /** Codecs its compressed extents need decoded (a platform loads the costly ones only then). */
  readonly codecs?: readonly string[];
  /** Encryption, where the format has it: data reads fail while `locked`. */
  readonly encryption?: string;
  readonly locked?: boolean;
  unlock?(passphrase: string | Uint8Array, crypto?: CryptoProvider): Promise<void>;
  /** The error a data read gives while locked. */
  needsPassphrase?(): Error;
}

/** One internal snapshot as qemu-img lists it (QAPI SnapshotInfo). */
export interface SnapshotInfo {
  id: string;
  name: string;
  'vm-state-size': number;
  'date-sec': number;
  'date-nsec': number;
  'vm-clock-sec': number;
  'vm-clock-nsec': number;
  icount?: number;
}
