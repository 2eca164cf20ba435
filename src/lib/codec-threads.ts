/**
 * The page's codec workers (workers/codec.worker.ts), which compress and decode clusters: started
 * once, when the first job asks, and lent to each conversion as one MessagePort per worker and
 * pool (see ready-worker.ts for why the engine does not start them itself).
 */
import { connect, startReadyWorker } from './ready-worker.ts';

let started: Promise<Worker[]> | undefined;

/** As many as the machine has cores, up to 4 (the engine's own thread reads and writes). */
const threadCount = () => Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2));

const startCodecWorker = () =>
  startReadyWorker(() => new Worker(new URL('../../workers/codec.worker.ts', import.meta.url), { type: 'module' }));

/** Starts the workers ahead of a job: it then finds them ready. */
export function warmCodecThreads(): void {
  started ??= Promise.all(Array.from({ length: threadCount() }, startCodecWorker)).then((all) =>
    all.filter((worker): worker is Worker => worker !== null),
  );
}

/**
 * For one job, one port per codec worker for its compressing pool and another for its decoding
 * pool (transfer them with it); none where no worker would start (the engine then decodes on its
 * own thread, and a compressed output fails saying so).
 */
export async function codecPorts(): Promise<{ compressionPorts: MessagePort[]; decodingPorts: MessagePort[] }> {
  warmCodecThreads();
  const workers = await started!;
  // None started (blocked, or a script that failed): the next job tries again.
  if (workers.length === 0) started = undefined;
  return { compressionPorts: workers.map(connect), decodingPorts: workers.map(connect) };
}
