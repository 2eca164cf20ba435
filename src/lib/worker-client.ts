/**
 * A Comlink handle on a module worker that cannot hang the page: every call also waits on the
 * worker's start, and fails with a WorkerStartError when the script reports an error before it
 * said it was ready, or stays silent past START_TIMEOUT_MS. (WebKit was seen leaving a module
 * worker unstarted, with no error, while the service worker was installing.)
 */
import * as Comlink from 'comlink';
import { WORKER_READY } from '../../workers/expose.ts';
import type { SerializedError } from '../../workers/engine.worker.ts';

export const START_TIMEOUT_MS = 30_000;

export class WorkerStartError extends Error {
  override readonly name = 'WorkerStartError';
}

export interface WorkerHandle<T> {
  api: Comlink.Remote<T>;
  stop(): void;
}

export function guardedWorker<T>(worker: Worker, timeoutMs = START_TIMEOUT_MS): WorkerHandle<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let ready = false;
  const failed = new Promise<never>((_, reject) => {
    const fail = (message: string) => {
      if (ready) return;
      clearTimeout(timer);
      reject(new WorkerStartError(message));
    };
    worker.addEventListener('message', function started(event: MessageEvent) {
      if ((event.data as { type?: string } | null)?.type !== WORKER_READY) return;
      ready = true;
      clearTimeout(timer);
      worker.removeEventListener('message', started);
    });
    worker.addEventListener('error', (event) => fail(event.message || 'its script did not load'));
    timer = setTimeout(() => fail(`it did not start within ${timeoutMs / 1000} s`), timeoutMs);
  });
  // Only calls observe the failure; an idle handle must not report an unhandled rejection.
  failed.catch(() => {});
  const remote = Comlink.wrap<T>(worker);
  const api = new Proxy(remote, {
    get(target, property) {
      const member = Reflect.get(target, property) as unknown;
      if (typeof member !== 'function' || property === 'then') return member;
      return (...args: unknown[]) => Promise.race([(member as (...a: unknown[]) => Promise<unknown>)(...args), failed]);
    },
  }) as Comlink.Remote<T>;
  return {
    api,
    stop: () => {
      clearTimeout(timer);
      worker.terminate();
    },
  };
}

/** A call that failed outright (not with the engine's own error data), as the page shows errors. */
export function failureOf(error: unknown): SerializedError {
  const message = String((error as Error)?.message ?? error);
  return { kind: error instanceof WorkerStartError ? 'worker' : 'internal', message, context: {} };
}
