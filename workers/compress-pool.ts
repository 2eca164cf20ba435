/** The page's compression threads (compress.worker.ts) behind the engine's CompressorPool. */
import { CompressorPool, type PoolCodec } from '../src/core/codecs/compressor-pool.ts';
import type { CompressRequest } from './compress.worker.ts';

export class BrowserCompressorPool extends CompressorPool {
  constructor(type: PoolCodec, clusterSize: number, threads: number) {
    super(
      threads,
      (onReply, onError) => {
        const worker = new Worker(new URL('./compress.worker.ts', import.meta.url), { type: 'module' });
        worker.onmessage = (event) => onReply(event.data);
        worker.onerror = (event) => onError(new Error(`compression worker failed: ${event.message}`));
        return {
          post: (batch) => worker.postMessage({ type, clusterSize, ...batch } satisfies CompressRequest, [batch.buffer]),
          terminate: () => worker.terminate(),
        };
      },
      // After the current burst of compress() calls: part-filled batches go out then.
      (flush) => setTimeout(flush, 0),
    );
  }
}
