/**
 * Exposes a worker's API with Comlink, then says it is ready: the page waits for that word, so a
 * worker whose script never ran (blocked, failed to load) is reported instead of awaited forever.
 */
import * as Comlink from 'comlink';

/** The message a worker posts once its module has run; Comlink ignores messages without an id. */
export const WORKER_READY = 'diskimg-worker-ready';

export function exposeApi(api: object): void {
  Comlink.expose(api);
  self.postMessage({ type: WORKER_READY });
}
