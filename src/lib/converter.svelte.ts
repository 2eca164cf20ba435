/** One conversion at a time: settings, progress, cancel, and delivering the result. */
import { azureDiskSize, DESTINATION_OUTPUTS, type Destination, type PageFormat } from './destinations.ts';
import { changedOptions } from './format-options.ts';
import * as Comlink from 'comlink';
import type { ImageSource, SerializedError } from '../../workers/engine.worker.ts';
import { startEngine } from './engine-client.ts';
import { WorkerStartError, failureOf } from './worker-client.ts';
import { outputName, qcow2Features, type ConvertSettings } from './outputs.ts';
import { locale } from './i18n/locale.svelte.ts';
import { chooseConvertTarget, deliver, discard, isSaveTarget, MEMORY_LIMIT, type Route } from './save-target.ts';
import { formatBytes } from './format.ts';
import { activeJob } from './active-job.svelte.ts';
import { readNewSize, RESIZABLE_FORMATS } from './resize.ts';

/** How the last job ended, for the page to say in its language. */
export type Outcome =
  | { kind: 'saved' | 'downloaded'; name: string; format: PageFormat; destination: Destination | ''; size: number; inputSize: number }
  | { kind: 'cancelled' | 'cancelledIncomplete' };

/** Time left is shown once this much has passed and this much is done (or, on a slow start, after the longer wait). */
const ESTIMATE_AFTER_SECONDS = 1;
const ESTIMATE_AFTER_FRACTION = 0.02;
const ESTIMATE_ANYWAY_SECONDS = 5;

export class Converter {
  settings = $state<ConvertSettings>({
    outputFormat: 'qcow2',
    compression: 'none',
    clusterSize: 65536,
    compat: '1.1',
    refcountBits: 16,
    lazyRefcounts: false,
    formatOptions: {},
    destination: '',
  });
  /** Encrypt a qcow2 output with LUKS under this passphrase (kept in memory for this page only). */
  encrypt = $state(false);
  encryptPassphrase = $state('');
  /** The passphrase typed again: a typo in a hidden field would lock the new image for good. */
  encryptConfirm = $state('');
  /** The new virtual size as typed (qcow2 and raw outputs; empty keeps the disk's size). */
  resizeText = $state('');
  /** A shrink cuts off the disk's end: it runs only once the user has said they know. */
  shrinkConfirmed = $state(false);
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
  outcome = $state.raw<Outcome | null>(null);
  private stop?: () => void;
  private cleanup?: () => Promise<void>;
  private cancelled?: () => void;

  /** The size the output is made at, when it differs from the disk's (undefined: unchanged). */
  newSize(virtualSize: number): number | undefined {
    if (!RESIZABLE_FORMATS.includes(this.settings.outputFormat)) return undefined;
    const wanted = readNewSize(this.resizeText, virtualSize);
    return wanted.kind === 'grow' || wanted.kind === 'shrink' ? wanted.size : undefined;
  }

  /** Why the job cannot start as set: a size that does not parse, or a shrink not confirmed. */
  resizeBlocked(virtualSize: number): boolean {
    if (!RESIZABLE_FORMATS.includes(this.settings.outputFormat)) return false;
    const wanted = readNewSize(this.resizeText, virtualSize);
    return wanted.kind === 'invalid' || (wanted.kind === 'shrink' && !this.shrinkConfirmed);
  }

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

  /**
   * Call straight from the click: the save picker needs the user's gesture. `virtualSize` is the
   * total shown from the first moment (the engine's count is of guest bytes, never the file's).
   */
  async start(
    source: ImageSource,
    virtualSize: number,
    snapshot?: { id: string; name: string },
    inputHandles: FileSystemFileHandle[] = [],
  ): Promise<void> {
    const { file, backing, passphrase, ovaDisk } = source;
    const name = outputName(file.name, this.settings.outputFormat, snapshot?.name);
    const settings = $state.snapshot(this.settings);
    const encryptPassphrase =
      this.encrypt && settings.outputFormat === 'qcow2' && settings.compression === 'none' ? this.encryptPassphrase : undefined;
    // Plain copies: Svelte state proxies cannot be cloned into a worker.
    const { formatOptions, destination, ...common } = settings;
    const job = {
      file,
      backing: [...backing],
      ovaDisk,
      ...common,
      ...qcow2Features(settings),
      formatOptions: changedOptions(settings.outputFormat, formatOptions),
      targetSize:
        destination && DESTINATION_OUTPUTS[destination].wholeMiB && settings.outputFormat === 'vpc'
          ? azureDiskSize(virtualSize)
          : undefined,
      newSize: this.newSize(virtualSize),
      outputName: name,
      snapshot: snapshot ? `snapshot.id=${snapshot.id}` : undefined,
      passphrase,
      encryptPassphrase,
    };
    // The engine that says what this window can hold is the one that then converts.
    const engine = startEngine();
    let target;
    try {
      target = await chooseConvertTarget(name, inputHandles, async () => {
        const [capabilities, measured] = await Promise.all([engine.api.outputCapabilities(), engine.api.measure(job)]);
        return { capabilities, size: measured.ok ? measured.value : 0, exact: measured.ok && settings.outputFormat === 'raw' };
      });
    } catch (error) {
      // A browser API that failed in a way no feature test foresaw: said as it is, not as a bug.
      engine.stop();
      this.outcome = null;
      this.error =
        error instanceof WorkerStartError
          ? failureOf(error)
          : { kind: 'io', message: `${(error as Error)?.name ?? 'Error'}: ${(error as Error)?.message ?? error}`, context: {} };
      return;
    }
    if (target === null || !isSaveTarget(target)) engine.stop();
    if (target === null) return; // the user closed the picker
    if (!isSaveTarget(target)) {
      this.outcome = null;
      this.route = null;
      const m = locale.m.convert;
      this.error =
        'refused' in target
          ? {
              kind: 'limit',
              message: m.tooBig(
                formatBytes(target.size),
                target.free === undefined ? undefined : formatBytes(target.free),
                formatBytes(MEMORY_LIMIT),
              ),
              context: {},
            }
          : target;
      return;
    }
    const output = target.output;
    this.route = target.route;
    this.error = null;
    this.outcome = null;
    this.running = true;
    const current = { name: file.name, cancel: () => this.cancel() };
    activeJob.current = current;
    this.done = 0;
    this.written = 0;
    this.total = job.newSize ?? virtualSize;
    this.startedAt = this.now = performance.now();
    this.stop = engine.stop;
    // What a cancel must undo: never leave a partial file that looks whole.
    this.cleanup = () => discard(target);
    // A terminated worker never answers: cancel settles the wait instead.
    const cancelled = new Promise<null>((resolve) => (this.cancelled = () => resolve(null)));
    try {
      const converting = engine.api.convert(
        Comlink.transfer({ ...job, output }, output.kind === 'stream' ? [output.port] : []),
        Comlink.proxy((done: number, total: number, written: number) => {
          this.done = done;
          this.total = total;
          this.written = written;
          this.now = performance.now();
        }),
      );
      // The streamed download starts now: the engine's first write waits for the browser to ask.
      target.stream?.start();
      const result = await Promise.race([converting, cancelled]);
      if (result === null) return;
      if (!result.ok) {
        this.error = result.error;
        await this.cleanup();
        return;
      }
      this.now = performance.now();
      this.done = this.total;
      try {
        this.outcome = {
          kind: await deliver(target, result.value.blob),
          name,
          format: settings.outputFormat,
          destination,
          size: result.value.outputSize,
          inputSize: file.size + backing.reduce((sum, other) => sum + other.size, 0),
        };
      } catch (error) {
        this.error = { kind: 'io', message: `${(error as Error)?.name ?? 'Error'}: ${(error as Error)?.message ?? error}`, context: {} };
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
