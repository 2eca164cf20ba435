/** One conversion at a time: its settings, and the job (progress, cancel, delivery) of file-job.svelte.ts. */
import type { ImageSource } from '../../workers/engine.worker.ts';
import { azureDiskSize, DESTINATION_OUTPUTS, type Destination, type PageFormat } from './destinations.ts';
import { codecPorts, warmCodecThreads } from './codec-threads.ts';
import { FileJob, withOutput, type JobOutcome } from './file-job.svelte.ts';
import { changedOptions } from './format-options.ts';
import { outputName, qcow2Features, type ConvertSettings } from './outputs.ts';
import { readNewSize, RESIZABLE_FORMATS } from './resize.ts';

/** What a finished conversion adds to its outcome: the import steps and sizes shown after it. */
export interface ConvertedExtra {
  format: PageFormat;
  destination: Destination | '';
  inputSize: number;
}

/** How the last job ended, for the page to say in its language. */
export type Outcome = JobOutcome<ConvertedExtra>;

export class Converter extends FileJob<ConvertedExtra> {
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
    // The codec workers start while the job is measured and its output chosen.
    warmCodecThreads();
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
    await this.run({
      name,
      label: file.name,
      total: job.newSize ?? virtualSize,
      inputHandles,
      measure: async (api) => {
        const measured = await api.measure(job);
        return { size: measured.ok ? measured.value : 0, exact: measured.ok && settings.outputFormat === 'raw' };
      },
      work: async (api, output, onProgress) => api.convert(withOutput({ ...job, output, ...(await codecPorts()) }), onProgress),
      extra: { format: settings.outputFormat, destination, inputSize: file.size + backing.reduce((sum, other) => sum + other.size, 0) },
    });
  }
}
