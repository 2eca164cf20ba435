/**
 * Extracting a file, or a folder as a zip, to where the user chooses; with progress and cancel.
 * The output takes the conversions' ladder: the chosen file, OPFS staging, a streamed download,
 * or (small ones only) memory — so a private window or Safari's engine extracts too.
 */
import type { SerializedError } from '../../../workers/engine.worker.ts';
import { startDiscWorker } from '../disc-client.ts';
import { formatBytes } from '../format.ts';
import { locale } from '../i18n/locale.svelte.ts';
import { chooseConvertTarget, deliver, discard, isSaveTarget, MEMORY_LIMIT, type SaveTarget } from '../save-target.ts';
import { failureOf } from '../worker-client.ts';
import * as Comlink from 'comlink';

export class Extractor {
  running = $state(false);
  written = $state(0);
  error = $state.raw<SerializedError | null>(null);
  ready = $state<string | null>(null);
  private stop?: () => void;

  /** Call straight from the click: the save picker needs the gesture. */
  async extract(file: File, path: string, name: string, inputHandles: FileSystemFileHandle[] = []): Promise<void> {
    const worker = startDiscWorker();
    let target: SaveTarget | null = null;
    try {
      const chosen = await chooseConvertTarget(name, inputHandles, async () => {
        const [capabilities, measured] = await Promise.all([worker.api.outputCapabilities(), worker.api.extractSize(file, path)]);
        return { capabilities, size: measured.ok ? measured.value.size : file.size, exact: measured.ok && measured.value.exact };
      });
      if (chosen === null) return worker.stop();
      if (!isSaveTarget(chosen)) {
        worker.stop();
        this.error =
          'refused' in chosen
            ? { kind: 'limit', message: locale.m.convert.tooBig(formatBytes(chosen.size), chosen.free === undefined ? undefined : formatBytes(chosen.free), formatBytes(MEMORY_LIMIT)), context: {} }
            : chosen;
        return;
      }
      target = chosen;
    } catch (error) {
      worker.stop();
      this.error = failureOf(error);
      return;
    }
    const output = target.output;
    this.error = null;
    this.ready = null;
    this.written = 0;
    this.running = true;
    this.stop = () => {
      worker.stop();
      void discard(target).catch(() => {});
    };
    try {
      const extracting = worker.api.extract(
        file,
        path,
        Comlink.transfer(output, output.kind === 'stream' ? [output.port] : []),
        Comlink.proxy((done: number) => (this.written = done)),
      );
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
      worker.stop();
      this.running = false;
    }
  }

  cancel(): void {
    this.stop?.();
    this.running = false;
  }
}
