/** Extracting a file, or a folder as a zip, to where the user chooses; with progress and cancel. */
import type { SerializedError } from '../../../workers/engine.worker.ts';
import { startDiscWorker } from '../disc-client.ts';
import { chooseSaveTarget, deliver, discard, isSaveTarget } from '../save-target.ts';
import * as Comlink from 'comlink';

export class Extractor {
  running = $state(false);
  written = $state(0);
  error = $state.raw<SerializedError | null>(null);
  ready = $state<string | null>(null);
  private stop?: () => void;

  /** Call straight from the click: the save picker needs the gesture. */
  async extract(file: File, path: string, name: string, inputHandles: FileSystemFileHandle[] = []): Promise<void> {
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
    const worker = startDiscWorker();
    this.stop = () => {
      worker.stop();
      void discard(target).catch(() => {});
    };
    try {
      const result = await worker.api.extract(file, path, target.output, Comlink.proxy((done: number) => (this.written = done)));
      if (!result.ok) {
        this.error = result.error;
        await discard(target).catch(() => {});
        return;
      }
      await deliver(target);
      this.ready = name;
    } finally {
      worker.stop();
      this.running = false;
    }
  }

  cancel(): void {
    this.stop?.();
    this.running = false;
  }
}
