/**
 * One job that writes a new file from the opened one (snapshot create or delete): where it goes,
 * its progress, cancel, and how it ended. The destination ladder, the active-job guard and the
 * cleanup are the converter's (save-target.ts); the engine call is the job's own.
 */
import * as Comlink from 'comlink';
import type { EngineApi, OutputTarget, Result, SerializedError } from '../../workers/engine.worker.ts';
import { activeJob } from './active-job.svelte.ts';
import { startEngine } from './engine-client.ts';
import { formatBytes } from './format.ts';
import { locale } from './i18n/locale.svelte.ts';
import { chooseConvertTarget, deliver, discard, isSaveTarget, MEMORY_LIMIT } from './save-target.ts';
import { failureOf, WorkerStartError } from './worker-client.ts';

export type JobOutcome = { kind: 'saved' | 'downloaded'; name: string; size: number } | { kind: 'cancelled' | 'cancelledIncomplete' };

/** The engine call: writes into `output`, reporting bytes done of total. */
export type JobWork = (
  api: Comlink.Remote<EngineApi>,
  output: OutputTarget,
  onProgress: (done: number, total: number) => void,
) => Promise<Result<{ outputSize: number; blob?: Blob }>>;

const asError = (error: unknown): SerializedError =>
  error instanceof WorkerStartError
    ? failureOf(error)
    : { kind: 'io', message: `${(error as Error)?.name ?? 'Error'}: ${(error as Error)?.message ?? error}`, context: {} };

export class FileJob {
  running = $state(false);
  done = $state(0);
  total = $state(0);
  startedAt = $state(0);
  now = $state(0);
  error = $state.raw<SerializedError | null>(null);
  outcome = $state.raw<JobOutcome | null>(null);
  private stop?: () => void;
  private cleanup?: () => Promise<void>;
  private cancelled?: () => void;

  get bytesPerSecond(): number {
    const seconds = (this.now - this.startedAt) / 1000;
    return seconds > 0.5 ? this.done / seconds : 0;
  }

  /** Null for the first second: what little is done by then says nothing of the rest. */
  get secondsLeft(): number | null {
    const seconds = (this.now - this.startedAt) / 1000;
    if (!this.running || seconds < 1 || this.done === 0) return null;
    return Math.max(0, (this.total - this.done) / (this.done / seconds));
  }

  /**
   * Call straight from the click (the save picker needs the gesture). `size` is the most the
   * output may take (the ladder refuses what no rung can hold).
   */
  async start(name: string, label: string, size: number, inputHandles: FileSystemFileHandle[], work: JobWork): Promise<void> {
    const engine = startEngine();
    let target;
    try {
      target = await chooseConvertTarget(name, inputHandles, async () => ({
        capabilities: await engine.api.outputCapabilities(),
        size,
        exact: false,
      }));
    } catch (error) {
      engine.stop();
      this.outcome = null;
      this.error = asError(error);
      return;
    }
    if (target === null || !isSaveTarget(target)) engine.stop();
    if (target === null) return;
    if (!isSaveTarget(target)) {
      this.outcome = null;
      this.error =
        'refused' in target
          ? {
              kind: 'limit',
              message: locale.m.convert.tooBig(
                formatBytes(target.size),
                target.free === undefined ? undefined : formatBytes(target.free),
                formatBytes(MEMORY_LIMIT),
              ),
              context: {},
            }
          : target;
      return;
    }
    const saveTarget = target;
    this.error = null;
    this.outcome = null;
    this.running = true;
    const current = { name: label, cancel: () => this.cancel() };
    activeJob.current = current;
    this.done = 0;
    this.total = size;
    this.startedAt = this.now = performance.now();
    this.stop = engine.stop;
    this.cleanup = () => discard(saveTarget);
    const cancelled = new Promise<null>((resolve) => (this.cancelled = () => resolve(null)));
    try {
      const working = work(
        engine.api,
        saveTarget.output,
        Comlink.proxy((done: number, total: number) => {
          this.done = done;
          this.total = total;
          this.now = performance.now();
        }),
      );
      saveTarget.stream?.start();
      const result = await Promise.race([working, cancelled]);
      if (result === null) return;
      if (!result.ok) {
        this.error = result.error;
        await this.cleanup();
        return;
      }
      this.now = performance.now();
      this.done = this.total;
      try {
        this.outcome = { kind: await deliver(saveTarget, result.value.blob), name, size: result.value.outputSize };
      } catch (error) {
        this.error = asError(error);
      }
    } finally {
      engine.stop();
      this.running = false;
      this.stop = undefined;
      if (activeJob.current === current) activeJob.current = null;
    }
  }

  /** Stops at once: the worker is terminated, and the partial output removed. */
  async cancel(): Promise<void> {
    if (!this.running) return;
    this.stop?.();
    this.cancelled?.();
    this.running = false;
    activeJob.current = null;
    this.done = 0;
    try {
      await this.cleanup?.();
      this.outcome = { kind: 'cancelled' };
    } catch {
      this.outcome = { kind: 'cancelledIncomplete' };
    }
  }
}
