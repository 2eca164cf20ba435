/** The page's handle on the engine worker; a fresh worker per job keeps cancel simple later. */
import * as Comlink from 'comlink';
import type { EngineApi } from '../../workers/engine.worker.ts';

export function startEngine(): { api: Comlink.Remote<EngineApi>; stop(): void } {
  const worker = new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), { type: 'module' });
  return { api: Comlink.wrap<EngineApi>(worker), stop: () => worker.terminate() };
}
