/**
 * One hashing thread for the page's checksums (checksumsOnThread): chunks arrive transferred,
 * are hashed with hash-wasm (the fastest streaming SHA-256 measured in the page: see
 * shared notes/perf.md), and go back transferred for the next read. Messages are handled in
 * order, each after the one before it has finished.
 */
import { wasmHashers } from '../src/core/iso/wasm-hashers.ts';
import type { Hasher, HashName } from '../src/core/iso/checksums.ts';

export type HashRequest =
  { type: 'start'; names: HashName[] } | { type: 'update'; buffer: ArrayBuffer; length: number } | { type: 'digest' };

export type HashReply = { type: 'chunk'; buffer: ArrayBuffer } | { type: 'digest'; sums: Partial<Record<HashName, string>> };

/** The worker's own scope (the DOM lib types a global postMessage as the window's). */
const scope = self as unknown as Worker;
let hashers: Array<readonly [HashName, Hasher]> = [];
let queue = Promise.resolve();

async function handle(request: HashRequest): Promise<void> {
  if (request.type === 'start') {
    hashers = await Promise.all(request.names.map(async (name) => [name, await wasmHashers(name)] as const));
  } else if (request.type === 'update') {
    const chunk = new Uint8Array(request.buffer, 0, request.length);
    for (const [, hasher] of hashers) hasher.update(chunk);
    scope.postMessage({ type: 'chunk', buffer: request.buffer } satisfies HashReply, [request.buffer]);
  } else {
    scope.postMessage({
      type: 'digest',
      sums: Object.fromEntries(hashers.map(([name, hasher]) => [name, hasher.digest()])),
    } satisfies HashReply);
  }
}

scope.onmessage = (event: MessageEvent<HashRequest>) => {
  queue = queue.then(() => handle(event.data));
};
