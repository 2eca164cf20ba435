/** One conversion at a time: settings, progress, cancel, and delivering the result. */
import type { OutputFormat } from '../core/pipeline/convert-image.ts';
import * as Comlink from 'comlink';
import type { SerializedError } from '../../workers/engine.worker.ts';
import { startEngine } from './engine-client.ts';
import { outputName, type ConvertSettings } from './outputs.ts';
import { chooseSaveTarget, deliver, discard, isSaveTarget } from './save-target.ts';

/** How the last job ended, for the page to say in its language. */
export type Outcome = { kind: 'saved' | 'downloaded'; name: string; format: OutputFormat } | { kind: 'cancelled' | 'cancelledIncomplete' };

export class Converter {
  settings = $state<ConvertSettings>({ outputFormat: 'qcow2', compression: 'none', clusterSize: 65536, compat: '1.1' });
  /** Encrypt a qcow2 output with LUKS under this passphrase (kept in memory for this page only). */
  encrypt = $state(false);
  encryptPassphrase = $state('');
  running = $state(false);
  done = $state(0);
  total = $state(0);
  startedAt = $state(0);
  now = $state(0);
  error = $state.raw<SerializedError | null>(null);
  outcome = $state.raw<Outcome | null>(null);
  private stop?: () => void;
  private cleanup?: () => Promise<void>;
  private cancelled?: () => void;

  get bytesPerSecond(): number {
    const seconds = (this.now - this.startedAt) / 1000;
    return seconds > 0 ? this.done / seconds : 0;
  }

  get secondsLeft(): number | null {
    const rate = this.bytesPerSecond;
    return rate > 0 ? (this.total - this.done) / rate : null;
  }

  /** Call straight from the click: the save picker needs the user's gesture. */
  async start(file: File, backing: File[], snapshot = '', inputHandles: FileSystemFileHandle[] = [], passphrase?: string): Promise<void> {
    const name = outputName(file.name, this.settings.outputFormat);
    const target = await chooseSaveTarget(name, inputHandles);
    if (target === null) return; // the user closed the picker
    if (!isSaveTarget(target)) {
      this.outcome = null;
      this.error = target;
      return;
    }
    const output = target.output;
    this.error = null;
    this.outcome = null;
    this.running = true;
    this.done = 0;
    this.total = file.size;
    this.startedAt = this.now = performance.now();
    const engine = startEngine();
    this.stop = engine.stop;
    // What a cancel must undo: never leave a partial file that looks whole.
    this.cleanup = () => discard(target);
    const settings = $state.snapshot(this.settings);
    // A terminated worker never answers: cancel settles the wait instead.
    const cancelled = new Promise<null>((resolve) => (this.cancelled = () => resolve(null)));
    try {
      const converting = engine.api.convert(
        // Plain copies: Svelte state proxies cannot be cloned into a worker.
        {
          file,
          backing: [...backing],
          ...settings,
          output,
          snapshot: snapshot ? `snapshot.id=${snapshot}` : undefined,
          passphrase,
          encryptPassphrase: this.encrypt && settings.outputFormat === 'qcow2' && settings.compression === 'none' ? this.encryptPassphrase : undefined,
        },
        Comlink.proxy((done: number, total: number) => {
          this.done = done;
          this.total = total;
          this.now = performance.now();
        }),
      );
      const result = await Promise.race([converting, cancelled]);
      if (result === null) return;
      if (!result.ok) {
        this.error = result.error;
        await this.cleanup();
        return;
      }
      this.now = performance.now();
      this.done = this.total;
      this.outcome = { kind: await deliver(target), name, format: settings.outputFormat };
    } finally {
      engine.stop();
      this.running = false;
      this.stop = undefined;
    }
  }

  /** Stops at once: the worker is terminated, and the partial output removed. */
  async cancel(): Promise<void> {
    if (!this.running) return;
    this.stop?.();
    this.cancelled?.();
    this.running = false;
    try {
      await this.cleanup?.();
      this.outcome = { kind: 'cancelled' };
    } catch {
      this.outcome = { kind: 'cancelledIncomplete' };
    }
  }
}
