/** Extracting a file, or a folder as a zip, to where the user chooses; with progress and cancel. */
import type { OutputTarget, Result, SerializedError } from '../../../workers/engine.worker.ts';
import { startDiscWorker } from '../disc-client.ts';
import { chooseSaveTarget, deliver, discard, isSaveTarget } from '../save-target.ts';
import * as Comlink from 'comlink';

/** One extraction in a fresh worker: what it resolves to, and how to stop it (terminate). */
export type ExtractJob = (output: OutputTarget, onProgress: (done: number) => void) => { result: Promise<Result<number>>; stop(): void };

export class Extractor {
  running = $state(false);
  written = $state(0);
  error = $state.raw<SerializedError | null>(null);
  ready = $state<string | null>(null);
  private stop?: () => void;

  /** A disc's file or folder. Call straight from the click: the save picker needs the gesture. */
  extract(file: File, path: string, name: string, inputHandles: FileSystemFileHandle[] = []): Promise<void> {
    return this.run(name, inputHandles, (output, onProgress) => {
      const worker = startDiscWorker();
      return { result: worker.api.extract(file, path, output, Comlink.proxy(onProgress)), stop: () => worker.stop() };
    });
  }

  /** Any extraction job (a disc's, a guest file system's), saved as `name`. */
  async run(name: string, inputHandles: FileSystemFileHandle[], job: ExtractJob): Promise<void> {
    const target = await chooseSaveTarget(name, inputHandles);
    if (target === null) return;
    if (!isSaveTarget(target)) {
      this.error = target;
      return;
    }
    this.error = null;
    this.ready = null;
    this.written = 0;
    this.running = true;
    const started = job(target.output, (done) => (this.written = done));
    this.stop = () => {
      started.stop();
      void discard(target).catch(() => {});
    };
    try {
      const result = await started.result;
      if (!result.ok) {
        this.error = result.error;
        await discard(target).catch(() => {});
        return;
      }
      await deliver(target);
      this.ready = name;
    } finally {
      started.stop();
      this.running = false;
    }
  }

  cancel(): void {
    this.stop?.();
    this.running = false;
  }
}
