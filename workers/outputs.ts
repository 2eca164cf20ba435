/**
 * Where a job's output goes, for every worker that writes one (a conversion, a disc extraction):
 * the kinds of target the page may hand over, what this window can write into, and the Sink
 * for each target.
 */
import type { Sink } from '../src/core/sink.ts';
import { BlobSink, createSyncAccessHandle, StreamSink, SyncAccessSink, WritableSink } from './sinks.ts';

/**
 * Where the output goes, best first (the page picks by feature tests): the file the user chose,
 * an OPFS staging file then downloaded, a download streamed through the service worker as the
 * engine fills it (the port is the stream's), or memory for a small output.
 */
export type OutputTarget =
  | { kind: 'handle'; handle: FileSystemFileHandle }
  | { kind: 'opfs'; name: string }
  | { kind: 'stream'; port: MessagePort }
  | { kind: 'memory' };

/** What this worker can write into, asked before a job (OPFS exists only in some windows). */
export interface OutputCapabilities {
  /** OPFS with sync access handles works here. */
  opfs: boolean;
  /** Why not, in the browser's words (a private window's SecurityError, a missing API). */
  opfsError?: string;
  /** Bytes the origin's storage can still take (navigator.storage.estimate), when known. */
  free?: number;
}

export async function outputCapabilities(): Promise<OutputCapabilities> {
  let opfs = false;
  let opfsError: string | undefined;
  try {
    if (typeof navigator.storage?.getDirectory !== 'function') throw new Error('navigator.storage.getDirectory is missing');
    const root = await navigator.storage.getDirectory();
    if (typeof (FileSystemFileHandle.prototype as { createSyncAccessHandle?: unknown }).createSyncAccessHandle !== 'function')
      throw new Error('createSyncAccessHandle is missing');
    opfs = root !== undefined;
  } catch (error) {
    opfsError = `${(error as Error)?.name ?? 'Error'}: ${(error as Error)?.message ?? error}`;
  }
  let free: number | undefined;
  try {
    const estimate = await navigator.storage?.estimate?.();
    if (estimate?.quota !== undefined) free = Math.max(0, estimate.quota - (estimate.usage ?? 0));
  } catch {
    // Unknown: the job is tried, and a full quota is reported when it happens.
  }
  return { opfs, opfsError, free };
}

export async function openOutputSink(target: OutputTarget): Promise<Sink> {
  if (target.kind === 'handle') return new WritableSink(await target.handle.createWritable());
  if (target.kind === 'stream') return new StreamSink(target.port);
  if (target.kind === 'memory') return new BlobSink();
  const root = await navigator.storage.getDirectory();
  const handle = await root.getFileHandle(target.name, { create: true });
  return new SyncAccessSink(await createSyncAccessHandle(handle));
}
