/**
 * The engine in a worker, exposed with Comlink. A thin adapter: Files become Storage, output
 * handles become Sinks, engine errors become plain data (Comlink keeps only an Error's name,
 * message and stack). Cancel is terminate(): the page starts a fresh worker per job.
 */
import * as Comlink from 'comlink';
import type { CompressionType } from '../src/core/codecs/compress.ts';
import type { BackingResolver } from '../src/core/disk.ts';
import { DiskImgError, type ErrorKind } from '../src/core/errors.ts';
import { imageInfo, type QemuImageInfo } from '../src/core/info.ts';
import { openImage, probeFormat } from '../src/core/open.ts';
import { convertImage } from '../src/core/pipeline/convert-image.ts';
import type { Sink } from '../src/core/sink.ts';
import { BlobStorage } from '../src/core/storage/storage.ts';
import { BrowserCompressorPool } from './compress-pool.ts';
import { createSyncAccessHandle, SyncAccessSink, WritableSink } from './sinks.ts';

export interface SerializedError {
  kind: ErrorKind | 'internal';
  message: string;
  context: Record<string, unknown>;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

export interface Inspection {
  info: QemuImageInfo;
  /** What the bytes of a raw image are, when we recognise them (an ISO, a UDF disc). */
  content?: string;
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
    return file ? new BlobStorage(file, file.name) : null;
  };
}

async function openSink(target: OutputTarget): Promise<Sink> {
  if (target.kind === 'handle') return new WritableSink(await target.handle.createWritable());
  const root = await navigator.storage.getDirectory();
  const handle = await root.getFileHandle(target.name, { create: true });
  return new SyncAccessSink(await createSyncAccessHandle(handle));
}

const api = {
  async inspect(file: File): Promise<Result<Inspection>> {
    try {
      const storage = new BlobStorage(file, file.name);
      const probed = await probeFormat(storage);
      const image = await openImage(storage, { noBacking: true });
      const info = await imageInfo(image);
      await image.close();
      return { ok: true, value: { info, content: probed.content } };
    } catch (error) {
      return { ok: false, error: serialize(error) };
    }
  },

  async convert(job: ConvertJob, onProgress: (done: number, total: number) => void): Promise<Result<{ size: number }>> {
    let sink: Sink | undefined;
    const compressor = job.compression === 'none' ? undefined : new BrowserCompressorPool(job.compression, job.clusterSize, Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2)));
    try {
      const image = await openImage(new BlobStorage(job.file, job.file.name), { resolveBacking: resolverFor(job.backing), snapshot: job.snapshot });
      sink = await openSink(job.output);
      let last = 0;
      await convertImage(image, sink, {
        outputFormat: job.outputFormat,
        compressor,
        qcow2: { clusterSize: job.clusterSize, compat: job.compat, compressionType: job.compression === 'zstd' ? 'zstd' : 'zlib' },
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
