/** The page's hashing thread (hash.worker.ts) behind the engine's HashingThread. */
import type { HashingThread, HashName } from '../src/core/iso/checksums.ts';
import type { HashReply, HashRequest } from './hash.worker.ts';

export function startHashingThread(names: readonly HashName[]): HashingThread & { stop(): void } {
  const worker = new Worker(new URL('./hash.worker.ts', import.meta.url), { type: 'module' });
  // Replies come in the order of the requests that ask for one.
  const waiting: Array<{ resolve(reply: HashReply): void; reject(error: Error): void }> = [];
  worker.onmessage = (event: MessageEvent<HashReply>) => waiting.shift()?.resolve(event.data);
  let failed: Error | undefined;
  worker.onerror = (event) => {
    failed = new Error(`hashing worker failed: ${event.message}`);
    for (const w of waiting.splice(0)) w.reject(failed);
  };
  const ask = (request: HashRequest, transfer: Transferable[] = []) =>
    new Promise<HashReply>((resolve, reject) => {
      if (failed) return reject(failed);
      waiting.push({ resolve, reject });
      worker.postMessage(request, transfer);
    });
  worker.postMessage({ type: 'start', names: [...names] } satisfies HashRequest);
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
    stop: () => worker.terminate(),
  };
}
