/**
 * The disc reader in a worker, exposed with Comlink: summary, one directory at a time, the disc's
 * layout, checksums with progress, and extraction of a file or a folder (as a zip) to an output.
 * A thin adapter over src/core/iso; cancel is terminate(), as for the engine worker.
 */
import { exposeApi } from './expose.ts';
import { DiskImgError } from '../src/core/errors.ts';
import { checksums, checksumsOnThread, type HashName } from '../src/core/iso/checksums.ts';
import { wasmHashers } from '../src/core/iso/wasm-hashers.ts';
import { hashingThreadOn } from './hash-thread.ts';
import { Disc } from '../src/core/iso/disc.ts';
import { zipEntries } from '../src/core/iso/extract.ts';
import { discInfo, type DiscInfo } from '../src/core/iso/info.ts';
import { discLayout, type Region } from '../src/core/iso/layout.ts';
import type { DiscEntry } from '../src/core/iso/types.ts';
import { zipStream } from '../src/core/iso/zip.ts';
import { CachedStorage } from '../src/core/storage/cached.ts';
import { BlobStorage } from '../src/core/storage/blob.ts';
import type { Result, SerializedError } from './engine.worker.ts';
import { openOutputSink, outputCapabilities, type OutputTarget } from './outputs.ts';
import { BlobSink } from './sinks.ts';

/** A listing row: what the page shows, without the reader's private parts. */
export type DiscRow = Omit<DiscEntry, 'ref' | 'extents' | 'inline'>;

function serialize(error: unknown): SerializedError {
  if (error instanceof DiskImgError) return error.toJSON() as SerializedError;
  return { kind: 'internal', message: String((error as Error)?.message ?? error), context: {} };
}

async function attempt<T>(work: () => Promise<T>): Promise<Result<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    return { ok: false, error: serialize(error) };
  }
}

const row = ({ ref: _ref, extents: _extents, inline: _inline, ...rest }: DiscEntry): DiscRow => rest;

/** Directories and file entries are small reads: served from cached 4 MiB blocks of the File. */
const open = (file: File) => Disc.open(new CachedStorage(new BlobStorage(file, file.name)));

const api = {
  summary: (file: File): Promise<Result<DiscInfo>> => attempt(async () => discInfo(await open(file))),

  list: (file: File, path: string): Promise<Result<{ entry: DiscRow; children: DiscRow[] }>> =>
    attempt(async () => {
      const disc = await open(file);
      const entry = await disc.resolve(path);
      return { entry: row(entry), children: entry.type === 'dir' ? (await disc.tree.list(entry)).map(row) : [] };
    }),

  layout: (file: File): Promise<Result<Region[]>> => attempt(async () => discLayout(await open(file))),

  checksums: (
    file: File,
    names: HashName[],
    /** The page's hashing worker, for this job (undefined: hashed here). */
    hashPort: MessagePort | undefined,
    onProgress: (done: number, total: number) => void,
  ): Promise<Result<Partial<Record<HashName, string>>>> =>
    attempt(async () => {
      const storage = new BlobStorage(file, file.name);
      if (!hashPort) return checksums(storage, names, wasmHashers, onProgress);
      // Read here, hashed on the page's hashing worker: each on its own core.
      const thread = hashingThreadOn(hashPort, names);
      try {
        return await checksumsOnThread(storage, thread, onProgress);
      } finally {
        thread.stop();
      }
    }),

  outputCapabilities,

  /**
   * The most bytes an extraction can take: a file's own size (exact), or for a folder's zip the
   * disc's size (each file of the disc takes at least a 2 KiB sector there, more than its zip
   * entry's headers).
   */
  extractSize: (file: File, path: string): Promise<Result<{ size: number; exact: boolean }>> =>
    attempt(async () => {
      const entry = await (await open(file)).resolve(path);
      return entry.type === 'dir' ? { size: file.size, exact: false } : { size: entry.size, exact: true };
    }),

  /** A file as itself, a folder as a zip, written in order to the output (a Blob back for a memory output). */
  extract: (
    file: File,
    path: string,
    target: OutputTarget,
    onProgress: (done: number) => void,
  ): Promise<Result<{ size: number; blob?: Blob }>> =>
    attempt(async () => {
      const disc = await open(file);
      const entry = await disc.resolve(path);
      const sink = await openOutputSink(target);
      let at = 0;
      try {
        const chunks = entry.type === 'dir' ? zipStream(zipEntries(disc, entry)) : disc.read(entry);
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

export type DiscApi = typeof api;

exposeApi(api);
