/**
 * One hashing thread for the page's checksums (checksumsOnThread): chunks arrive transferred,
 * are hashed with hash-wasm (the fastest streaming SHA-256 measured in the page: see
 * shared notes/perf.md), and go back transferred for the next read. Messages are handled in
 * order, each after the one before it has finished; a failure is said back, not thrown.
 */
import { wasmHashers } from '../src/core/iso/wasm-hashers.ts';
import type { Hasher, HashName } from '../src/core/iso/checksums.ts';
import { WORKER_READY } from './expose.ts';

export type HashRequest =
  { type: 'start'; names: HashName[] } | { type: 'update'; buffer: ArrayBuffer; length: number } | { type: 'digest' };

export type HashReply =
  | { type: 'chunk'; buffer: ArrayBuffer }
  | { type: 'digest'; sums: Partial<Record<HashName, string>> }
  | { type: 'failed'; message: string };

/** One checksum job's line to this worker (the page starts it: see src/lib/ready-worker.ts). */
function serve(port: MessagePort): void {
  let hashers: Array<readonly [HashName, Hasher]> = [];
  let queue = Promise.resolve();
  const handle = async (request: HashRequest): Promise<void> => {
    if (request.type === 'start') {
      hashers = await Promise.all(request.names.map(async (name) => [name, await wasmHashers(name)] as const));
    } else if (request.type === 'update') {
      const chunk = new Uint8Array(request.buffer, 0, request.length);
      for (const [, hasher] of hashers) hasher.update(chunk);
      port.postMessage({ type: 'chunk', buffer: request.buffer } satisfies HashReply, [request.buffer]);
    } else {
      port.postMessage({
        type: 'digest',
        sums: Object.fromEntries(hashers.map(([name, hasher]) => [name, hasher.digest()])),
      } satisfies HashReply);
    }
  };
  port.onmessage = (event: MessageEvent<HashRequest>) => {
    queue = queue
      .then(() => handle(event.data))
      .catch((error: unknown) =>
        port.postMessage({ type: 'failed', message: String((error as Error)?.message ?? error) } satisfies HashReply),
      );
  };
}

/** The worker's own scope (the DOM lib types a global postMessage as the window's). */
const scope = self as unknown as Worker;
scope.onmessage = (event: MessageEvent<{ connect: MessagePort }>) => serve(event.data.connect);
scope.postMessage({ type: WORKER_READY });
