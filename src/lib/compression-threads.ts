/**
 * The page's compression workers (workers/compress.worker.ts): started once, when the first job
 * asks, and lent to each conversion as one MessagePort per worker (see ready-worker.ts for why
 * the engine does not start them itself).
 */
import { connect, startReadyWorker } from './ready-worker.ts';

let started: Promise<Worker[]> | undefined;

/** As many as the machine has cores, up to 4 (the engine's own thread reads and writes). */
const threadCount = () => Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2));

const startCompressionWorker = () =>
  startReadyWorker(() => new Worker(new URL('../../workers/compress.worker.ts', import.meta.url), { type: 'module' }));

/** Starts the workers ahead of a job: it then finds them ready. */
export function warmCompressionThreads(): void {
  started ??= Promise.all(Array.from({ length: threadCount() }, startCompressionWorker)).then((all) =>
    all.filter((worker): worker is Worker => worker !== null),
  );
}

/** One port per compression worker, for one job (transfer them with it); none where no worker would start. */
export async function compressionPorts(): Promise<MessagePort[]> {
  warmCompressionThreads();
  const workers = await started!;
  // None started (blocked, or a script that failed): the next job tries again.
  if (workers.length === 0) started = undefined;
  return workers.map(connect);
}
