/**
 * The engine in a worker, exposed with Comlink. A thin adapter: Files become Storage, output
 * handles become Sinks, engine errors become plain data (Comlink keeps only an Error's name,
 * message and stack). Cancel is terminate(): the page starts a fresh worker per job.
 */
import * as Comlink from 'comlink';
import type { CompressionType } from '../src/core/codecs/compress.ts';
import { allocationPicture, layerHoldings, type AllocationPicture, type LayerHoldings } from '../src/core/allocation.ts';
import { checkImage, type CheckResult } from '../src/core/check.ts';
import type { BackingResolver, DiskImage } from '../src/core/disk.ts';
import { DiskImgError, type ErrorKind } from '../src/core/errors.ts';
import { imageInfo, type QemuImageInfo } from '../src/core/info.ts';
import { lockedLayers, MAX_CHAIN_DEPTH, openImage, probeFormat } from '../src/core/open.ts';
import { detectPartitions, hasPartitionInfo, type PartitionReport } from '../src/core/partitions/index.ts';
import { convertImage } from '../src/core/pipeline/convert-image.ts';
import { CoalescingSink, type Sink } from '../src/core/sink.ts';
import { CachedStorage } from '../src/core/storage/cached.ts';
import { BlobStorage } from '../src/core/storage/blob.ts';
import type { Storage } from '../src/core/storage/storage.ts';
import { BrowserCompressorPool } from './compress-pool.ts';
import { conversionDecoders, loadZstdDecoderFor } from './decoders.ts';
import { createSyncAccessHandle, SyncAccessSink, WritableSink } from './sinks.ts';

export interface SerializedError {
  kind: ErrorKind | 'internal';
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
}

export interface ChainLayer {
  name: string;
  format: string;
  virtualSize: number;
  fileSize: number;
}

export type OutputTarget = { kind: 'handle'; handle: FileSystemFileHandle } | { kind: 'opfs'; name: string };

export interface ConvertJob {
  file: File;
  /** Files the user gave for the backing chain, matched by name. */
  backing: File[];
  outputFormat: 'raw' | 'qcow2';
  compression: 'none' | CompressionType;
  clusterSize: number;
  compat: '0.10' | '1.1';
  snapshot?: string;
  output: OutputTarget;
  /** Unlocks an encrypted input. */
  passphrase?: string;
  /** Encrypts the qcow2 output with LUKS (qemu-img's defaults: aes-256-xts-plain64, sha256). */
  encryptPassphrase?: string;
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

async function openSink(target: OutputTarget): Promise<Sink> {
  if (target.kind === 'handle') return new WritableSink(await target.handle.createWritable());
  const root = await navigator.storage.getDirectory();
  const handle = await root.getFileHandle(target.name, { create: true });
  return new SyncAccessSink(await createSyncAccessHandle(handle));
}

/**
 * Opens the merged disk when every backing file was given; else the image alone, so what is known
 * is still shown (the missing layer's parts appear unallocated).
 */
async function openAvailable({ file, backing, passphrase }: ImageSource, snapshot?: string): Promise<{ image: DiskImage; missing?: string }> {
  const storage = readerFor(file);
  const resolve = resolverFor(backing);
  let missing: string | undefined;
  // Locked images still give their mappings (the picture, the holdings); reading data needs the passphrase.
  const common = { snapshot, passphrase, allowLocked: true };
  try {
    return { image: await openImage(storage, { ...common, resolveBacking: async (name, overlay) => (await resolve(name, overlay)) ?? ((missing = name), null) }) };
  } catch (error) {
    if (missing === undefined) throw error;
  }
  return { image: await openImage(storage, { ...common, noBacking: true }), missing };
}

/** The chain's layers one by one, as far as the given files reach, and the first name missing. */
async function listChain(file: File, backing: File[]): Promise<{ chain: ChainLayer[]; missing?: string }> {
  const chain: ChainLayer[] = [];
  let current: File | undefined = file;
  let format: string | undefined;
  while (current && chain.length < MAX_CHAIN_DEPTH) {
    const image = await openImage(new BlobStorage(current, current.name), { noBacking: true, format, allowLocked: true });
    const layer = image.layers[0];
    await image.close();
    chain.push({ name: current.name, format: layer.format, virtualSize: layer.virtualSize, fileSize: current.size });
    const name = layer.backingFilename;
    if (name === undefined) return { chain };
    const base = name.split(/[\\/]/).pop();
    current = backing.find((f) => f.name === base);
    if (!current) return { chain, missing: name };
    if (chain.some((l) => l.name === current!.name)) throw new DiskImgError('corrupt', `Backing chain loops: '${layer.storage.name}' names '${name}', which is already in the chain`, { file: layer.storage.name, field: 'backing file', value: name });
    format = layer.backingFormat;
  }
  return { chain };
}

async function withImage<T>(source: ImageSource, work: (image: DiskImage) => Promise<T>): Promise<Result<T>> {
  try {
    const { image } = await openAvailable(source);
    try {
      return { ok: true, value: await work(image) };
    } finally {
      await image.close();
    }
  } catch (error) {
    return { ok: false, error: serialize(error) };
  }
}

const api = {
  async inspect(source: ImageSource): Promise<Result<Inspection>> {
    const { file, backing } = source;
    try {
      const storage = new BlobStorage(file, file.name);
      const probed = await probeFormat(storage);
      const single = await openImage(storage, { noBacking: true, allowLocked: true });
      const info = await imageInfo(single);
      await single.close();
      const { chain, missing } = await listChain(file, backing);
      let passphraseError: SerializedError | undefined;
      let partitions: PartitionReport | null = null;
      let locked = false;
      try {
        const { image } = await openAvailable(source);
        try {
          locked = lockedLayers(image).length > 0;
          if (!locked) {
            const report = await detectPartitions(image);
            partitions = hasPartitionInfo(report) ? report : null;
          }
        } finally {
          await image.close();
        }
      } catch (error) {
        // A wrong passphrase is said beside the prompt; other failures leave the partitions unknown.
        if (error instanceof DiskImgError && error.kind === 'wrong-passphrase') {
          passphraseError = serialize(error);
          locked = true;
        } else if (!(error instanceof DiskImgError)) throw error;
      }
      return { ok: true, value: { info, locked, passphraseError, partitions, content: probed.content, fileSize: file.size, chain, missingBacking: missing } };
    } catch (error) {
      return { ok: false, error: serialize(error) };
    }
  },

  /** The allocation picture of the chain as far as it is known, for [start, end). */
  async picture(source: ImageSource, buckets: number, start?: number, end?: number): Promise<Result<AllocationPicture>> {
    const result = await withImage(source, (image) => allocationPicture(image, buckets, start, end));
    return result.ok ? Comlink.transfer(result, [result.value.bytes.buffer]) : result;
  },

  /** How much each layer of the chain holds by itself, top down. */
  async holdings(source: ImageSource): Promise<Result<LayerHoldings[]>> {
    return withImage(source, async (image) => {
      const out: LayerHoldings[] = [];
      for (const layer of image.layers) out.push(await layerHoldings(layer));
      return out;
    });
  },

  /** qemu-img check of the image itself (null for a format qemu-img cannot check: raw, qcow). */
  async check(file: File): Promise<Result<CheckResult | null>> {
    try {
      const image = await openImage(readerFor(file), { noBacking: true, allowLocked: true });
      try {
        return { ok: true, value: image.layers[0].check ? await checkImage(image) : null };
      } finally {
        await image.close();
      }
    } catch (error) {
      return { ok: false, error: serialize(error) };
    }
  },

  async convert(job: ConvertJob, onProgress: (done: number, total: number) => void): Promise<Result<{ size: number }>> {
    let sink: Sink | undefined;
    const compressor = job.compression === 'none' ? undefined : new BrowserCompressorPool(job.compression, job.clusterSize, Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2)));
    try {
      const image = await openImage(readerFor(job.file), { resolveBacking: resolverFor(job.backing), snapshot: job.snapshot, passphrase: job.passphrase, decoders: conversionDecoders });
      await loadZstdDecoderFor(image);
      sink = new CoalescingSink(await openSink(job.output));
      let last = 0;
      await convertImage(image, sink, {
        outputFormat: job.outputFormat,
        compressor,
        qcow2: { clusterSize: job.clusterSize, compat: job.compat, compressionType: job.compression === 'zstd' ? 'zstd' : 'zlib' },
        encrypt: job.encryptPassphrase !== undefined ? { format: 'luks', passphrase: job.encryptPassphrase } : undefined,
        onProgress: (done, total) => {
          const now = performance.now();
          if (now - last > 100 || done === total) {
            last = now;
            onProgress(done, total);
          }
        },
      });
      await sink.close();
      return { ok: true, value: { size: image.virtualSize } };
    } catch (error) {
      await sink?.abort?.().catch(() => {});
      return { ok: false, error: serialize(error) };
    } finally {
      await compressor?.close();
    }
  },
};

export type EngineApi = typeof api;

Comlink.expose(api);
