/**
 * One job that writes a new file from the opened one (a conversion, a snapshot copy): where it
 * goes (the destination ladder of save-target.ts), its progress, cancel, and how it ended. The
 * engine call is the job's own; the active-job guard and the cleanup are shared here.
 */
import * as Comlink from 'comlink';
import type { EngineApi, OutputTarget, Result, SerializedError } from '../../workers/engine.worker.ts';
import { activeJob } from './active-job.svelte.ts';
import { startEngine } from './engine-client.ts';
import { formatBytes } from './format.ts';
import { locale } from './i18n/locale.svelte.ts';
import { chooseConvertTarget, deliver, discard, isSaveTarget, MEMORY_LIMIT, type Route } from './save-target.ts';
import { failureOf, WorkerStartError } from './worker-client.ts';

/** How the last job ended, for the page to say in its language; `Extra` is what the job adds. */
export type JobOutcome<Extra extends object = object> =
  ({ kind: 'saved' | 'downloaded'; name: string; size: number } & Extra) | { kind: 'cancelled' | 'cancelledIncomplete' };

/** Progress as the engine reports it: guest bytes done of total, and bytes written (the speed shown). */
export type OnProgress = (done: number, total: number, written?: number) => void;

/** The engine call: writes into `output`. */
export type JobWork = (
  api: Comlink.Remote<EngineApi>,
  output: OutputTarget,
  onProgress: OnProgress,
) => Promise<Result<{ outputSize: number; blob?: Blob }>>;

export interface JobPlan<Extra extends object> {
  /** The output's file name. */
  name: string;
  /** What the page says is running (the input's name). */
  label: string;
  /** The progress total shown from the first moment. */
  total: number;
  inputHandles: FileSystemFileHandle[];
  /** The most the output may take, and whether that is exact (the ladder refuses what no rung holds). */
  measure: (api: Comlink.Remote<EngineApi>) => Promise<{ size: number; exact: boolean }>;
  work: JobWork;
  /** Added to a saved or downloaded outcome. */
  extra: Extra;
}

/** A payload for the worker with its output: a streamed download's port and the codec workers' are transferred, never copied. */
export const withOutput = <T extends { output: OutputTarget; compressionPorts?: MessagePort[]; decodingPorts?: MessagePort[] }>(
  payload: T,
): T =>
  Comlink.transfer(payload, [
    ...(payload.output.kind === 'stream' ? [payload.output.port] : []),
    ...(payload.compressionPorts ?? []),
    ...(payload.decodingPorts ?? []),
  ]);

/** Time left is shown once this much has passed and this much is done (or, on a slow start, after the longer wait). */
const ESTIMATE_AFTER_SECONDS = 1;
const ESTIMATE_AFTER_FRACTION = 0.02;
const ESTIMATE_ANYWAY_SECONDS = 5;

/** A browser API that failed in a way no feature test foresaw: said as it is, not as a bug. */
const asError = (error: unknown): SerializedError =>
  error instanceof WorkerStartError
    ? failureOf(error)
    : { kind: 'io', message: `${(error as Error)?.name ?? 'Error'}: ${(error as Error)?.message ?? error}`, context: {} };

export class FileJob<Extra extends object = object> {
  running = $state(false);
  done = $state(0);
  total = $state(0);
  /** Bytes written to the output so far: the speed shown (holes are skipped in no time). */
  written = $state(0);
  /** The rung of the output ladder the last job took. */
  route = $state.raw<Route | null>(null);
  startedAt = $state(0);
  now = $state(0);
  error = $state.raw<SerializedError | null>(null);
  outcome = $state.raw<JobOutcome<Extra> | null>(null);
  private stop?: () => void;
  private cleanup?: () => Promise<void>;
  private cancelled?: () => void;

  get bytesPerSecond(): number {
    const seconds = (this.now - this.startedAt) / 1000;
    return seconds > 0.5 ? this.written / seconds : 0;
  }

  /**
   * Null until the rate means something: the first moments (opening the image, the first
   * clusters) say nothing of the rest, and an estimate drawn from them is wild.
   */
  get secondsLeft(): number | null {
    if (!this.running) return null;
    const seconds = (this.now - this.startedAt) / 1000;
    const fraction = this.total > 0 ? this.done / this.total : 0;
    if (seconds < ESTIMATE_AFTER_SECONDS || (fraction < ESTIMATE_AFTER_FRACTION && seconds < ESTIMATE_ANYWAY_SECONDS)) return null;
    if (this.done >= this.total) return 0;
    const rate = this.done / seconds;
    return rate > 0 ? (this.total - this.done) / rate : null;
  }

  /** Call straight from the click: the save picker needs the user's gesture. */
  async run(plan: JobPlan<Extra>): Promise<void> {
    // The engine that says what this window can hold is the one that then does the work.
    const engine = startEngine();
    let target;
    try {
      target = await chooseConvertTarget(plan.name, plan.inputHandles, async () => {
        const [capabilities, measured] = await Promise.all([engine.api.outputCapabilities(), plan.measure(engine.api)]);
        return { capabilities, ...measured };
      });
    } catch (error) {
      engine.stop();
      this.outcome = null;
      this.error = asError(error);
      return;
    }
    if (target === null || !isSaveTarget(target)) engine.stop();
    if (target === null) return; // the user closed the picker
    if (!isSaveTarget(target)) {
      this.outcome = null;
      this.route = null;
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
    this.route = saveTarget.route;
    this.error = null;
    this.outcome = null;
    this.running = true;
    const current = { name: plan.label, cancel: () => this.cancel() };
    activeJob.current = current;
    this.done = 0;
    this.written = 0;
    this.total = plan.total;
    this.startedAt = this.now = performance.now();
    this.stop = engine.stop;
    // What a cancel must undo: never leave a partial file that looks whole.
    this.cleanup = () => discard(saveTarget);
    // A terminated worker never answers: cancel settles the wait instead.
    const cancelled = new Promise<null>((resolve) => (this.cancelled = () => resolve(null)));
    try {
      const working = plan.work(
        engine.api,
        saveTarget.output,
        Comlink.proxy((done: number, total: number, written?: number) => {
          this.done = done;
          this.total = total;
          this.written = written ?? done;
          this.now = performance.now();
        }),
      );
      // The streamed download starts now: the engine's first write waits for the browser to ask.
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
        const kind = await deliver(saveTarget, result.value.blob);
        this.outcome = { kind, name: plan.name, size: result.value.outputSize, ...plan.extra } as JobOutcome<Extra>;
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
    // Nothing of the stopped job stays on screen to read as still going (no "6 s left").
    this.done = 0;
    this.written = 0;
    try {
      await this.cleanup?.();
      this.outcome = { kind: 'cancelled' };
    } catch {
      this.outcome = { kind: 'cancelledIncomplete' };
    }
  }
}
