/** The page's handle on the disc worker: a fresh worker per job, so cancel is terminate(). */
import * as Comlink from 'comlink';
import type { DiscApi } from '../../workers/disc.worker.ts';

export function startDiscWorker(): { api: Comlink.Remote<DiscApi>; stop(): void } {
  const worker = new Worker(new URL('../../workers/disc.worker.ts', import.meta.url), { type: 'module' });
  return { api: Comlink.wrap<DiscApi>(worker), stop: () => worker.terminate() };
}
