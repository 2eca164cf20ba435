/**
 * The page's codec threads (codec.worker.ts) behind the engine's CompressorPool: the page
 * starts them and lends each job one port per thread (src/lib/codec-threads.ts).
 */
import { CompressorPool, type CompressReply, type PoolCodec } from '../src/core/codecs/compressor-pool.ts';
import type { CodecFailure, CompressRequest } from './codec.worker.ts';

export class BrowserCompressorPool extends CompressorPool {
  constructor(type: PoolCodec, clusterSize: number, ports: MessagePort[]) {
    let next = 0;
    super(
      ports.length,
      (onReply, onError) => {
        const port = ports[next++];
        port.onmessage = (event: MessageEvent<CompressReply | CodecFailure>) => {
          if ('failed' in event.data) onError(new Error(`compression worker failed: ${event.data.failed}`));
          else onReply(event.data);
        };
        return {
          post: (batch) => port.postMessage({ type, clusterSize, ...batch } satisfies CompressRequest, [batch.buffer]),
          // The thread is the page's, and serves later jobs: only this job's line to it closes.
          terminate: () => port.close(),
        };
      },
      // After the current burst of compress() calls: part-filled batches go out then.
      (flush) => setTimeout(flush, 0),
    );
  }
}
