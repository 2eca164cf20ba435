/** The page's handle on the engine worker; a fresh worker per job keeps cancel simple later. */
import type { EngineApi } from '../../workers/engine.worker.ts';
import { guardedWorker, type WorkerHandle } from './worker-client.ts';

export function startEngine(): WorkerHandle<EngineApi> {
  return guardedWorker<EngineApi>(new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), { type: 'module' }));
}
