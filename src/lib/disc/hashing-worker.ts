/** The checksum job's hashing worker (workers/hash.worker.ts), started by the page and lent to the disc worker by port. */
import { connect, startReadyWorker } from '../ready-worker.ts';

export interface HashingWorker {
  /** Transfer it with the job; undefined where the worker would not start (the disc worker then hashes on its own thread). */
  port?: MessagePort;
  stop(): void;
}

export async function startHashingWorker(): Promise<HashingWorker> {
  const worker = await startReadyWorker(() => new Worker(new URL('../../../workers/hash.worker.ts', import.meta.url), { type: 'module' }));
  return { port: worker ? connect(worker) : undefined, stop: () => worker?.terminate() };
}
