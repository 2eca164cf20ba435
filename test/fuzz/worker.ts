/** A fuzzing worker thread: runs the targets on each mutant it is sent and reports back. */
import { parentPort } from 'node:worker_threads';
import { runTargets } from './targets.ts';

export interface Job {
  id: number;
  bytes: Uint8Array;
}

export interface Report {
  id: number;
  findings: Array<{ target: string; error: string; stack?: string }>;
  outcomes: Array<{ target: string; result: string; kind?: string }>;
}

/** ArrayBuffer bytes a mutant may leave allocated after its targets ran (a runaway allocation otherwise). */
const ARRAY_BUFFER_BUDGET = 512 << 20;

parentPort!.on('message', async (job: Job) => {
  const { outcomes, findings } = await runTargets(job.bytes);
  const held = process.memoryUsage().arrayBuffers;
  if (held > ARRAY_BUFFER_BUDGET)
    findings.push({
      target: 'memory',
      error: `runaway allocation: ${Math.round(held / 2 ** 20)} MiB of ArrayBuffers held after the targets ran`,
    });
  parentPort!.postMessage({ id: job.id, findings, outcomes } satisfies Report);
});
