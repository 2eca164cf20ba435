/**
 * The page's codec threads (codec.worker.ts) behind the engine's DecoderPool: the page starts them
 * and lends each job one port per thread for decoding (src/lib/codec-threads.ts).
 */
import type { DecodeReply } from '../src/core/codecs/decoder-pool.ts';
import { DecoderPool } from '../src/core/codecs/decoder-pool.ts';
import type { CodecFailure } from './codec.worker.ts';

export class BrowserDecoderPool extends DecoderPool {
  constructor(private readonly ports: MessagePort[]) {
    let next = 0;
    super(
      ports.length,
      (onReply, onError) => {
        const port = ports[next++];
        port.onmessage = (event: MessageEvent<DecodeReply | CodecFailure>) => {
          if ('failed' in event.data) onError(new Error(`decoding worker failed: ${event.data.failed}`));
          else onReply(event.data);
        };
        return {
          post: (request) => port.postMessage(request, [request.input, request.output]),
          // The thread is the page's, and serves later jobs: only this job's line to it closes.
          terminate: () => port.close(),
        };
      },
      // After the current burst of cluster reads: part-filled batches go out then.
      (flush) => setTimeout(flush, 0),
    );
  }

  /** Also closes the lines of a job that decoded nothing (its threads never started). */
  override async close(): Promise<void> {
    await super.close();
    for (const port of this.ports) port.close();
  }
}
