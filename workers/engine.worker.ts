/**
 * The engine in a worker, exposed with Comlink. A thin adapter: Files become Storage, output
 * handles become Sinks, engine errors become plain data (Comlink keeps only an Error's name,
 * message and stack). Cancel is terminate(): the page starts a fresh worker per job.
 */
import * as Comlink from 'comlink';
import { exposeApi } from './expose.ts';
import type { CompressionType } from '../src/core/codecs/compress.ts';
import { allocationPicture, layerHoldings, type AllocationPicture, type LayerHoldings } from '../src/core/allocation.ts';
import { checkImage, type CheckResult } from '../src/core/check.ts';
import type { BackingResolver, DiskImage } from '../src/core/disk.ts';
import { DiskImgError, type ErrorKind } from '../src/core/errors.ts';
import { imageInfo, type QemuImageInfo } from '../src/core/info.ts';
import { lockedLayers, openImage, probeFormat, unlockImage } from '../src/core/open.ts';
import { detectPartitions, hasPartitionInfo, type PartitionReport } from '../src/core/partitions/index.ts';
import type { VolumeInfo } from '../src/core/partitions/types.ts';
import { convertImage, type ConvertImageOptions, type OutputFormat } from '../src/core/pipeline/convert-image.ts';
import { parseOvaOptions } from '../src/core/formats/ova/write/options.ts';
import { parseVmdkOptions } from '../src/core/formats/vmdk/write/options.ts';
import { GRAIN_SIZE } from '../src/core/formats/vmdk/write/stream-optimized.ts';
import { CoalescingSink, type Sink } from '../src/core/sink.ts';
import { CachedStorage } from '../src/core/storage/cached.ts';
import { BlobStorage } from '../src/core/storage/blob.ts';
import type { Storage } from '../src/core/storage/storage.ts';
import { BrowserCompressorPool } from './compress-pool.ts';
import { BrowserDecoderPool } from './decode-pool.ts';
import { conversionDecoders, loadZstdDecoderFor } from './decoders.ts';
import { measureOutput } from '../src/core/pipeline/measure.ts';
import { dataEnd, resizedImage } from '../src/core/pipeline/resized.ts';
import { copyWithSnapshotChange, type SnapshotChange } from '../src/core/pipeline/snapshot-copy.ts';
import { BlobSink, CountingSink } from './sinks.ts';
import { openOutputSink, outputCapabilities, type OutputTarget } from './outputs.ts';
import { choosePartition, openFileSystem, volumesInsideLuks } from '../src/core/filesystems/browse.ts';
import { portableCrypto } from '../src/core/crypto/provider.ts';
import { copyWithAmend, type AmendCopyRequest } from '../src/core/pipeline/amend-copy.ts';
import { fsZipEntries } from '../src/core/filesystems/extract.ts';
import type { FileSystem, FsEntry } from '../src/core/filesystems/tree.ts';
import { zipStream } from '../src/core/iso/zip.ts';

export interface SerializedError {
  kind: ErrorKind | 'internal' | 'worker';
  message: string;
  context: Record<string, unknown>;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

/** The image a job reads: the file, the backing files the user gave, the passphrase they typed. */
export interface ImageSource {
  file: File;
  backing: File[];
  /** Kept in the page's memory for this file only; never stored. */
  passphrase?: string;
  /** Which disk of an OVA (0-based; the first by default). */
  ovaDisk?: number;
}

export interface Inspection {
  info: QemuImageInfo;
  /** Encrypted and not (yet) unlocked: data cannot be read, metadata can. */
  locked: boolean;
  /** Why the passphrase given did not unlock the image. */
  passphraseError?: SerializedError;
  /** The partition table and file systems of the guest disk, when it can be read. */
  partitions: PartitionReport | null;
  /** What the bytes of a raw image are, when we recognise them (an ISO, a UDF disc). */
  content?: string;
  fileSize: number;
  /** The image and the backing files found among those given, top down. */
  chain: ChainLayer[];
  /** The first backing file name that none of the given files matched. */
  missingBacking?: string;
  /** Whether the format can be checked (qemu-img check). */
  checkable: boolean;
  /** The encryption of the chain's first encrypted layer ('luks', 'aes'). */
  encryption?: string;
  /** The format's variant, where it has several (a VMDK's create type, a fixed or dynamic VHD). */
  subformat?: string;
}

export interface ChainLayer {
  name: string;
  format: string;
  virtualSize: number;
  fileSize: number;
}

export type { OutputCapabilities, OutputTarget } from './outputs.ts';

export interface ConvertJob {
  file: File;
  /** Which disk of an OVA (0-based; the first by default). */
  ovaDisk?: number;
  /** Files the user gave for the backing chain, matched by name. */
  backing: File[];
  /** Any format convert writes, or 'ova' (a streamOptimized VMDK in an OVF package). */
  outputFormat: OutputFormat | 'ova';
  /**
   * The output's -o options as qemu-img spells them, for formats other than raw and qcow2 (a VMDK's
   * subformat, a VHD's force_size; an OVA's cpus and memory).
   */
  formatOptions?: Record<string, string>;
  /** Make the disk this large (VHD, VDI, VHDX, VMDK; Azure's whole MiB). */
  targetSize?: number;
  /** The page's new virtual size: the disk converted as if resized (grown, or shrunk down to its data). */
  newSize?: number;
  /** The output file's name: a VMDK names its extent by it, an OVA its machine. */
  outputName?: string;
  compression: 'none' | CompressionType;
  /** One port per page codec worker (src/lib/codec-threads.ts) for compressing, transferred with the job. */
  compressionPorts?: MessagePort[];
  /** Another port per codec worker, for decoding compressed clusters; without them this thread decodes. */
  decodingPorts?: MessagePort[];
  clusterSize: number;
  compat: '0.10' | '1.1';
  /** qcow2's refcount_bits (16 when not given). */
  refcountBits?: number;
  /** qcow2's lazy_refcounts. */
  lazyRefcounts?: boolean;
  snapshot?: string;
  output: OutputTarget;
  /** Unlocks an encrypted input. */
  passphrase?: string;
  /** Encrypts the qcow2 output with LUKS (qemu-img's defaults: aes-256-xts-plain64, sha256). */
  encryptPassphrase?: string;
}

/** An OVA's tar headers, .ovf and .mf beside its VMDK (a sparse VMDK's bound) stay under this. */
const OVA_ENVELOPE_BOUND = 1 << 20;

/**
 * An OVA's machine, or a streamOptimized VMDK's settings, from the job's -o options (their errors
 * thrown as the CLI prints them); undefined for every other output.
 */
function streamOptimizedSettings(job: ConvertJob): Pick<ConvertImageOptions, 'vmdk' | 'ova'> | undefined {
  const options = new Map(Object.entries(job.formatOptions ?? {}));
  const name = job.outputName ?? 'disk';
  if (job.outputFormat === 'ova') {
    const parsed = parseOvaOptions(options);
    if ('error' in parsed) throw new DiskImgError('usage', parsed.error);
    return { ova: { ova: parsed.settings, defaultName: name.replace(/\.ova$/i, '') } };
  }
  if (job.outputFormat !== 'vmdk' || options.get('subformat') !== 'streamOptimized') return undefined;
  const parsed = parseVmdkOptions(options);
  if ('error' in parsed) throw new DiskImgError('usage', parsed.error);
  // QEMU draws the CID at random and names the extent by the file's base name.
  return { vmdk: { ...parsed.settings, cid: Math.floor(Math.random() * 0x1_0000_0000), extentName: name } };
}

/**
 * The job's compression on the page's workers (one port each): a streamOptimized VMDK (alone or
 * in an OVA) deflates every grain with the pool's 'vmdk' codec, or on this thread without them.
 */
function compressorFor(job: ConvertJob, streamOptimized: boolean): BrowserCompressorPool | undefined {
  const ports = job.compressionPorts ?? [];
  if (streamOptimized) return ports.length ? new BrowserCompressorPool('vmdk', GRAIN_SIZE, ports) : undefined;
  if (job.compression === 'none') return undefined;
  if (!ports.length)
    throw new DiskImgError(
      'unsupported',
      'No compression worker would start in this browser: convert without compression, or reload the page',
    );
  return new BrowserCompressorPool(job.compression, job.clusterSize, ports);
}

/** A File as the engine reads it: small reads (tables, compressed clusters) served from cached 4 MiB blocks. */
function readerFor(file: File): Storage {
  return new CachedStorage(new BlobStorage(file, file.name));
}

function serialize(error: unknown): SerializedError {
  if (error instanceof DiskImgError) return error.toJSON() as SerializedError;
  return { kind: 'internal', message: String((error as Error)?.message ?? error), context: {} };
}

/** Backing files by name: the browser has no folders, so the stored name's last part decides. */
function resolverFor(files: File[]): BackingResolver {
  return async (name) => {
    const base = name.split(/[\\/]/).pop();
    const file = files.find((f) => f.name === base);
    return file ? readerFor(file) : null;
  };
}

/**
 * Opens the disk as far as the given files reach: a backing file not given ends the chain there,
 * so what is known is still shown (the missing layer's parts appear unallocated).
 */
function openAvailable({ file, backing, passphrase, ovaDisk }: ImageSource, snapshot?: string): Promise<DiskImage> {
  // Locked images still give their mappings (the picture, the holdings); reading data needs the passphrase.
  return openImage(readerFor(file), {
    snapshot,
    passphrase,
    ovaDisk,
    allowLocked: true,
    partialChain: true,
    resolveBacking: resolverFor(backing),
  });
}

async function withImage<T>(source: ImageSource, work: (image: DiskImage) => Promise<T>): Promise<Result<T>> {
  try {
    const image = await openAvailable(source);
    try {
      return { ok: true, value: await work(image) };
    } finally {
      await image.close();
    }
  } catch (error) {
    return { ok: false, error: serialize(error) };
  }
}

/** A file-system listing row: what the page shows, without the reader's private parts. */
export type FsRow = Omit<FsEntry, 'ref'>;

const fsRow = ({ ref: _ref, ...rest }: FsEntry): FsRow => rest;

/** Where a browsed file system is: a partition as the table numbers them, and the LVM logical volume ("vg/lv") in it, if any. */
export interface FsPlace {
  partition: number;
  volume?: string;
  /** A LUKS partition's passphrase: sent with each call, never kept. */
  passphrase?: string;
}

/** The file system at `place` on the disk, for one job. */
async function withFileSystem<T>(
  source: ImageSource,
  place: FsPlace,
  work: (fs: FileSystem, label: string, bytes: number) => Promise<T>,
): Promise<Result<T>> {
  return withImage(source, async (image) => {
    const unlock = place.passphrase === undefined ? undefined : { passphrase: place.passphrase, crypto: portableCrypto() };
    const chosen = await choosePartition(image, place.partition, place.volume, unlock);
    const fs = await openFileSystem(chosen.source);
    const fallback = place.volume ? place.volume.replace('/', '-') : `partition-${place.partition}`;
    return work(fs, (place.volume ? undefined : chosen.partition.filesystem?.label) || fallback, chosen.source.size);
  });
}

/** Files inside the guest disk: one folder at a time, and extraction of a file or a folder (as a zip). */
const filesApi = {
  /** An encrypted partition unlocked with `place.passphrase`: the logical volumes inside when it holds an LVM2 PV, else null. */
  fsVolumes: (source: ImageSource, place: FsPlace & { passphrase: string }): Promise<Result<VolumeInfo[] | null>> =>
    withImage(source, (image) => volumesInsideLuks(image, place.partition, { passphrase: place.passphrase, crypto: portableCrypto() })),

  fsList: (
    source: ImageSource,
    place: FsPlace,
    path: string,
  ): Promise<Result<{ entry: FsRow; children: FsRow[]; warnings: string[]; type: string }>> =>
    withFileSystem(source, place, async (fs) => {
      const entry = await fs.resolve(path);
      return {
        entry: fsRow(entry),
        children: entry.type === 'dir' ? (await fs.list(entry)).map(fsRow) : [],
        warnings: [...fs.warnings],
        type: fs.type,
      };
    }),

  /**
   * The most bytes an extraction can take: a file's own size (exact), or for a folder's zip the
   * partition's size (every file there takes at least a block, more than its zip entry's headers).
   */
  fsExtractSize: (source: ImageSource, place: FsPlace, path: string): Promise<Result<{ size: number; exact: boolean }>> =>
    withFileSystem(source, place, async (fs, _label, bytes) => {
      const entry = await fs.resolve(path);
      return entry.type === 'dir' ? { size: bytes, exact: false } : { size: entry.size, exact: true };
    }),

  fsExtract: (
    source: ImageSource,
    place: FsPlace,
    path: string,
    target: OutputTarget,
    onProgress: (done: number) => void,
  ): Promise<Result<{ size: number; blob?: Blob }>> =>
    withFileSystem(source, place, async (fs, label) => {
      const entry = await fs.resolve(path);
      const sink = await openOutputSink(target);
      let at = 0;
      try {
        const chunks = entry.type === 'dir' ? zipStream(fsZipEntries(fs, entry, label)) : fs.read(entry);
        for await (const chunk of chunks) {
          await sink.write(at, chunk);
          at += chunk.length;
          onProgress(at);
        }
        await sink.close();
        return { size: at, blob: sink instanceof BlobSink ? sink.blob() : undefined };
      } catch (error) {
        await sink.abort?.().catch(() => {});
        throw error;
      }
    }),
};

/** A qcow2 with one internal snapshot added or removed, written as a new file (the input untouched). */
export interface SnapshotCopyJob {
  file: File;
  change: SnapshotChange;
  output: OutputTarget;
}

export interface AmendCopyJob {
  file: File;
  request: AmendCopyRequest;
  output: OutputTarget;
}

type CopyProgress = (done: number, total: number) => void;

/** A copy of the opened file changed by an in-place verb, into the job's output; a memory output comes back as a Blob. */
async function changedCopy(
  output: OutputTarget,
  onProgress: CopyProgress,
  copy: (sink: Sink, onProgress: CopyProgress) => Promise<number>,
): Promise<Result<{ outputSize: number; blob?: Blob }>> {
  let sink: Sink | undefined;
  try {
    sink = await openOutputSink(output);
    let last = 0;
    const outputSize = await copy(sink, (done, total) => {
      const now = performance.now();
      if (now - last > 100 || done === total) {
        last = now;
        onProgress(done, total);
      }
    });
    await sink.close();
    return { ok: true, value: { outputSize, blob: sink instanceof BlobSink ? sink.blob() : undefined } };
  } catch (error) {
    await sink?.abort?.().catch(() => {});
    return { ok: false, error: serialize(error) };
  }
}

const verbsApi = {
  /** Progress gives the output's bytes written of its length. */
  snapshotCopy(job: SnapshotCopyJob, onProgress: CopyProgress): Promise<Result<{ outputSize: number; blob?: Blob }>> {
    return changedCopy(job.output, onProgress, (sink, progress) =>
      copyWithSnapshotChange(readerFor(job.file), job.change, sink, { onProgress: progress }),
    );
  },
  /** qemu-img amend into a new file (its snapshots kept); progress as snapshotCopy's. */
  amendCopy(job: AmendCopyJob, onProgress: CopyProgress): Promise<Result<{ outputSize: number; blob?: Blob }>> {
    return changedCopy(job.output, onProgress, (sink, progress) =>
      copyWithAmend(readerFor(job.file), job.request, sink, portableCrypto(), { onProgress: progress }),
    );
  },
};

const api = {
  ...filesApi,
  ...verbsApi,
  /**
   * Of files opened together, the image the others belong to: the first that no other names as
   * its backing file or as a file of its own (an extent). Unreadable files name nothing.
   */
  async topOf(files: File[]): Promise<number> {
    const named = new Set<string>();
    const record: BackingResolver = async (name) => (named.add(name.split(/[\\/]/).pop()!), null);
    for (const file of files) {
      try {
        const image = await openImage(readerFor(file), {
          allowLocked: true,
          partialChain: true,
          resolveBacking: record,
          resolveFile: async (name, overlay) => (await record(name, overlay)) ?? resolverFor(files)(name, overlay),
        });
        await image.close();
      } catch {
        // Not an image we read: it names nothing.
      }
    }
    const top = files.findIndex((file) => !named.has(file.name));
    return Math.max(0, top);
  },

  async inspect({ file, backing, passphrase, ovaDisk }: ImageSource): Promise<Result<Inspection>> {
    try {
      const storage = readerFor(file);
      const probed = await probeFormat(storage);
      const image = await openAvailable({ file, backing, ovaDisk });
      try {
        const info = await imageInfo(image);
        const chain = image.layers.map((layer) => ({
          name: layer.storage.name,
          format: layer.format,
          virtualSize: layer.virtualSize,
          fileSize: layer.storage.size,
        }));
        let passphraseError: SerializedError | undefined;
        if (passphrase !== undefined && lockedLayers(image).length > 0) {
          // A wrong passphrase is said beside the prompt, and the image stays locked.
          await unlockImage(image, passphrase).catch((error) => {
            if (!(error instanceof DiskImgError && error.kind === 'wrong-passphrase')) throw error;
            passphraseError = serialize(error);
          });
        }
        const locked = lockedLayers(image).length > 0;
        let partitions: PartitionReport | null = null;
        if (!locked) {
          const report = await detectPartitions(image).catch((error) => {
            // Other failures leave the partitions unknown.
            if (error instanceof DiskImgError) return null;
            throw error;
          });
          partitions = report && hasPartitionInfo(report) ? report : null;
        }
        const checkable = image.layers[0].check !== undefined;
        const subformat = image.layers[0].subformat;
        const encryption = image.layers.find((layer) => layer.encryption)?.encryption;
        return {
          ok: true,
          value: {
            info,
            locked,
            passphraseError,
            partitions,
            content: probed.content,
            fileSize: file.size,
            chain,
            missingBacking: image.missingBacking,
            checkable,
            subformat,
            encryption,
          },
        };
      } finally {
        await image.close();
      }
    } catch (error) {
      return { ok: false, error: serialize(error) };
    }
  },

  /** The allocation picture of the chain as far as it is known, for [start, end). */
  async picture(source: ImageSource, buckets: number, start?: number, end?: number): Promise<Result<AllocationPicture>> {
    const result = await withImage(source, (image) => allocationPicture(image, buckets, start, end));
    return result.ok ? Comlink.transfer(result, [result.value.bytes.buffer]) : result;
  },

  /** Where the guest's last data ends (in `snapshot`'s state, if given): the smallest size a shrink may reach. */
  async dataEnd(source: ImageSource, snapshot?: string): Promise<Result<number>> {
    try {
      const image = await openAvailable(source, snapshot);
      try {
        return { ok: true, value: await dataEnd(image) };
      } finally {
        await image.close();
      }
    } catch (error) {
      return { ok: false, error: serialize(error) };
    }
  },

  /** How much each layer of the chain holds by itself, top down. */
  async holdings(source: ImageSource): Promise<Result<LayerHoldings[]>> {
    return withImage(source, async (image) => {
      const out: LayerHoldings[] = [];
      for (const layer of image.layers) out.push(await layerHoldings(layer));
      return out;
    });
  },

  /** qemu-img check of the image itself, with the files it names as its own (a format without checks: null). */
  async check({ file, backing, ovaDisk }: ImageSource): Promise<Result<CheckResult | null>> {
    try {
      const image = await openImage(readerFor(file), { noBacking: true, allowLocked: true, ovaDisk, resolveFile: resolverFor(backing) });
      try {
        return { ok: true, value: image.layers[0].check ? await checkImage(image) : null };
      } finally {
        await image.close();
      }
    } catch (error) {
      return { ok: false, error: serialize(error) };
    }
  },

  /** Whether OPFS staging works in this window, and how much room it has. */
  outputCapabilities,

  /** The bytes qemu-img measure says the job's output requires (raw: exact; qcow2: never less than the file). */
  async measure(job: Omit<ConvertJob, 'output'>): Promise<Result<number>> {
    try {
      const opened = await openImage(readerFor(job.file), {
        resolveBacking: resolverFor(job.backing),
        snapshot: job.snapshot,
        passphrase: job.passphrase,
        ovaDisk: job.ovaDisk,
        allowLocked: true,
      });
      const image =
        job.newSize === undefined
          ? opened
          : await resizedImage(opened, job.newSize).catch(async (error: unknown) => {
              await opened.close();
              throw error;
            });
      try {
        return {
          ok: true,
          value:
            (await measureOutput(image, {
              outputFormat: job.outputFormat === 'ova' ? 'vmdk' : job.outputFormat,
              clusterSize: job.clusterSize,
              compat: job.compat,
              refcountBits: job.refcountBits,
              encrypted: job.encryptPassphrase !== undefined,
            })) + (job.outputFormat === 'ova' ? OVA_ENVELOPE_BOUND : 0),
        };
      } finally {
        await image.close();
      }
    } catch (error) {
      return { ok: false, error: serialize(error) };
    }
  },

  /**
   * Progress gives the guest bytes done, their total and the bytes written so far (the speed
   * shown: a sparse disk skips terabytes of holes in a moment). A memory output comes back as a Blob.
   */
  async convert(
    job: ConvertJob,
    onProgress: (done: number, total: number, written: number) => void,
  ): Promise<Result<{ size: number; outputSize: number; blob?: Blob }>> {
    let sink: Sink | undefined;
    let counted: CountingSink | undefined;
    let inner: Sink | undefined;
    const stream = streamOptimizedSettings(job);
    let compressor: BrowserCompressorPool | undefined;
    // Compressed clusters are decoded on the page's codec threads while this thread reads the next
    // clusters and writes the decoded ones; without them (none would start), on this thread.
    const decoding = job.decodingPorts?.length ? new BrowserDecoderPool(job.decodingPorts) : undefined;
    try {
      compressor = compressorFor(job, stream !== undefined);
      const opened = await openImage(readerFor(job.file), {
        resolveBacking: resolverFor(job.backing),
        snapshot: job.snapshot,
        passphrase: job.passphrase,
        ovaDisk: job.ovaDisk,
        decoders: decoding?.decoders ?? conversionDecoders,
      });
      if (!decoding) await loadZstdDecoderFor(opened);
      // A shrink that would cut off data is refused here, before the output is opened.
      const image = job.newSize === undefined ? opened : await resizedImage(opened, job.newSize);
      inner = await openOutputSink(job.output).catch((error: unknown) => {
        // A browser that refuses the output's place (storage switched off, a revoked handle) says why.
        throw new DiskImgError(
          'io',
          `Could not open the output (${job.output.kind === 'handle' ? 'the file you chose' : job.output.kind === 'opfs' ? 'the browser’s private storage' : job.output.kind === 'stream' ? 'the download stream' : 'memory'}): ${(error as Error)?.name ?? 'Error'}: ${(error as Error)?.message ?? error}`,
        );
      });
      counted = new CountingSink(inner);
      sink = new CoalescingSink(counted);
      let last = 0;
      await convertImage(image, sink, {
        outputFormat: job.outputFormat,
        compressor,
        qcow2: {
          clusterSize: job.clusterSize,
          compat: job.compat,
          compressionType: job.compression === 'zstd' ? 'zstd' : 'zlib',
          refcountBits: job.refcountBits ?? 16,
          lazyRefcounts: job.lazyRefcounts ?? false,
        },
        encrypt: job.encryptPassphrase !== undefined ? { format: 'luks', passphrase: job.encryptPassphrase } : undefined,
        formatOptions: job.formatOptions && new Map(Object.entries(job.formatOptions)),
        targetSize: job.targetSize,
        outputFileName: job.outputName,
        ...stream,
        onProgress: (done, total) => {
          const now = performance.now();
          if (now - last > 100 || done === total) {
            last = now;
            onProgress(done, total, counted!.written);
          }
        },
      });
      await sink.close();
      return {
        ok: true,
        value: { size: image.virtualSize, outputSize: counted.size, blob: inner instanceof BlobSink ? inner.blob() : undefined },
      };
    } catch (error) {
      await sink?.abort?.().catch(() => {});
      return { ok: false, error: serialize(error) };
    } finally {
      await compressor?.close();
      await decoding?.close();
      // Lines this job did not use (no compression): the codec workers let go of their ends.
      for (const port of job.compressionPorts ?? []) port.close();
    }
  },
};

export type EngineApi = typeof api;

exposeApi(api);
