/** The page's hashing worker (hash.worker.ts), reached by the port the page lent this job, behind the engine's HashingThread. */
import type { HashingThread, HashName } from '../src/core/iso/checksums.ts';
import type { HashReply, HashRequest } from './hash.worker.ts';

export function hashingThreadOn(port: MessagePort, names: readonly HashName[]): HashingThread & { stop(): void } {
  // Replies come in the order of the requests that ask for one.
  const waiting: Array<{ resolve(reply: HashReply): void; reject(error: Error): void }> = [];
  let failed: Error | undefined;
  port.onmessage = (event: MessageEvent<HashReply>) => {
    if (event.data.type !== 'failed') return waiting.shift()?.resolve(event.data);
    failed = new Error(`hashing worker failed: ${event.data.message}`);
    for (const w of waiting.splice(0)) w.reject(failed);
  };
  const ask = (request: HashRequest, transfer: Transferable[] = []) =>
    new Promise<HashReply>((resolve, reject) => {
      if (failed) return reject(failed);
      waiting.push({ resolve, reject });
      port.postMessage(request, transfer);
    });
  port.postMessage({ type: 'start', names: [...names] } satisfies HashRequest);
  return {
    async update(chunk) {
      const reply = await ask({ type: 'update', buffer: chunk.buffer as ArrayBuffer, length: chunk.length }, [chunk.buffer as ArrayBuffer]);
      if (reply.type !== 'chunk') throw new Error('hashing worker: unexpected reply');
      return reply.buffer;
    },
    async digest() {
      const reply = await ask({ type: 'digest' });
      if (reply.type !== 'digest') throw new Error('hashing worker: unexpected reply');
      return reply.sums;
    },
    stop: () => port.close(),
  };
}
