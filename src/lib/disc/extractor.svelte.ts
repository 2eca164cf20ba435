/**
 * Extracting a file, or a folder as a zip — from a disc or from a guest disk's file system — to
 * where the user chooses, with progress and cancel. The output takes the conversions' ladder: the
 * chosen file, OPFS staging, a streamed download, or (small ones only) memory, so a private
 * window or Safari's engine extracts too.
 */
import type { OutputCapabilities, OutputTarget, Result, SerializedError } from '../../../workers/engine.worker.ts';
import { startDiscWorker } from '../disc-client.ts';
import { formatBytes } from '../format.ts';
import { locale } from '../i18n/locale.svelte.ts';
import { chooseConvertTarget, deliver, discard, isSaveTarget, MEMORY_LIMIT, type SaveTarget } from '../save-target.ts';
import { failureOf } from '../worker-client.ts';
import * as Comlink from 'comlink';

/** What an extraction gives back: its length, and the bytes when they were kept in memory. */
export type Extracted = Result<{ size: number; blob?: Blob }>;

/** One extraction in a fresh worker: how big it may get, the job itself, and how to stop it (terminate). */
export interface ExtractJob {
  probe(): Promise<{ capabilities: OutputCapabilities; size: number; exact: boolean }>;
  start(output: OutputTarget, onProgress: (done: number) => void): Promise<Extracted>;
  stop(): void;
}

/** The output handed to a worker: a stream's port moves with it. */
export const transferred = (output: OutputTarget): OutputTarget => Comlink.transfer(output, output.kind === 'stream' ? [output.port] : []);

export class Extractor {
  running = $state(false);
  written = $state(0);
  error = $state.raw<SerializedError | null>(null);
  ready = $state<string | null>(null);
  private stop?: () => void;

  /** A disc's file or folder. Call straight from the click: the save picker needs the gesture. */
  extract(file: File, path: string, name: string, inputHandles: FileSystemFileHandle[] = []): Promise<void> {
    const worker = startDiscWorker();
    return this.run(name, inputHandles, {
      probe: async () => {
        const [capabilities, measured] = await Promise.all([worker.api.outputCapabilities(), worker.api.extractSize(file, path)]);
        return { capabilities, size: measured.ok ? measured.value.size : file.size, exact: measured.ok && measured.value.exact };
      },
      start: (output, onProgress) => worker.api.extract(file, path, transferred(output), Comlink.proxy(onProgress)),
      stop: () => worker.stop(),
    });
  }

  /** Any extraction job, saved as `name`. Call straight from the click. */
  async run(name: string, inputHandles: FileSystemFileHandle[], job: ExtractJob): Promise<void> {
    let target: SaveTarget;
    try {
      const chosen = await chooseConvertTarget(name, inputHandles, () => job.probe());
      if (chosen === null) return job.stop();
      if (!isSaveTarget(chosen)) {
        job.stop();
        this.error =
          'refused' in chosen
            ? {
                kind: 'limit',
                message: locale.m.convert.tooBig(
                  formatBytes(chosen.size),
                  chosen.free === undefined ? undefined : formatBytes(chosen.free),
                  formatBytes(MEMORY_LIMIT),
                ),
                context: {},
              }
            : chosen;
        return;
      }
      target = chosen;
    } catch (error) {
      job.stop();
      this.error = failureOf(error);
      return;
    }
    this.error = null;
    this.ready = null;
    this.written = 0;
    this.running = true;
    this.stop = () => {
      job.stop();
      void discard(target).catch(() => {});
    };
    try {
      const extracting = job.start(target.output, (done) => (this.written = done));
      // A streamed download starts now: the worker's first write waits for the browser to ask.
      target.stream?.start();
      const result = await extracting;
      if (!result.ok) {
        this.error = result.error;
        await discard(target).catch(() => {});
        return;
      }
      await deliver(target, result.value.blob);
      this.ready = name;
    } catch (error) {
      this.error = failureOf(error);
      await discard(target).catch(() => {});
    } finally {
      job.stop();
      this.running = false;
    }
  }

  cancel(): void {
    this.stop?.();
    this.running = false;
  }
}
