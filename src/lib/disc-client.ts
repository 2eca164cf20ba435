/** The page's handle on the disc worker: a fresh worker per job, so cancel is terminate(). */
import type { DiscApi } from '../../workers/disc.worker.ts';
import { guardedWorker, type WorkerHandle } from './worker-client.ts';

export function startDiscWorker(): WorkerHandle<DiscApi> {
  return guardedWorker<DiscApi>(new Worker(new URL('../../workers/disc.worker.ts', import.meta.url), { type: 'module' }));
}
