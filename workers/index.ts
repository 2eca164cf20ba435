/**
 * diskimg in a browser (`import … from 'diskimg/browser'`): everything the platform-free engine
 * exports, plus the places a conversion's output can go in a page — an Origin Private File System
 * file (from a dedicated worker), a file the user chose with the save picker, a download stream
 * over a MessagePort, or a Blob for small outputs. Run the engine in a Web Worker: a conversion
 * is CPU-bound and would freeze the page on its main thread.
 *
 * ```ts
 * // in a dedicated worker
 * const image = await openImage(new BlobStorage(file));
 * const handle = await (await navigator.storage.getDirectory()).getFileHandle('out.qcow2', { create: true });
 * const sink = new SyncAccessSink(await createSyncAccessHandle(handle));
 * await convertImage(image, sink, { outputFormat: 'qcow2' });
 * await sink.close();
 * ```
 *
 * @packageDocumentation
 * @module diskimg/browser
 */
export * from '../src/core/index.ts';
export {
  SyncAccessSink,
  WritableSink,
  StreamSink,
  BlobSink,
  CountingSink,
  createSyncAccessHandle,
  type SyncAccessHandle,
  type StreamReply,
} from './sinks.ts';
