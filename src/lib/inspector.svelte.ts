/** What the page knows about the opened file and the backing files given for it; components only read it. */
import type { ImageSource, Inspection, SerializedError } from '../../workers/engine.worker.ts';
import { startEngine } from './engine-client.ts';
import { failureOf } from './worker-client.ts';
import type { Picked } from './picked.ts';

export class Inspector {
  fileName = $state<string | null>(null);
  file = $state.raw<File | null>(null);
  /** The file's handle where the browser gave one (picker, drop, an installed app's launch). */
  handle = $state.raw<FileSystemFileHandle | undefined>(undefined);
  /** The other files the user gave (backing files, extents), matched by the names the image stores. */
  backing = $state.raw<File[]>([]);
  /** Typed by the user for an encrypted image; kept in this page's memory only, never stored. */
  passphrase = $state<string | undefined>(undefined);
  /** Which disk of an OVA is looked at (0-based). */
  ovaDisk = $state(0);
  busy = $state(false);
  inspection = $state.raw<Inspection | null>(null);
  error = $state.raw<SerializedError | null>(null);

  /**
   * Opens an image; several files at once are an image and the files it names (extents, backing
   * files): the engine tells which one is the image.
   */
  async open(picked: Picked[]): Promise<void> {
    let top = 0;
    if (picked.length > 1) {
      const engine = startEngine();
      try {
        top = await engine.api.topOf(picked.map((p) => p.file));
      } catch (error) {
        this.fileName = picked[0].file.name;
        this.inspection = null;
        this.error = failureOf(error);
        return;
      } finally {
        engine.stop();
      }
    }
    const { file, handle } = picked[top];
    this.fileName = file.name;
    this.file = file;
    this.handle = handle;
    this.backing = picked.filter((_, i) => i !== top).map((p) => p.file);
    this.passphrase = undefined;
    this.ovaDisk = 0;
    this.inspection = null;
    await this.inspect();
  }

  /** Looks at another disk of an OVA. */
  chooseOvaDisk(disk: number): Promise<void> {
    this.ovaDisk = disk;
    return this.inspect();
  }

  /** Adds backing files (a later pick replaces one of the same name) and looks again. */
  async addBacking(files: File[]): Promise<void> {
    const names = files.map((f) => f.name);
    this.backing = [...this.backing.filter((f) => !names.includes(f.name)), ...files];
    await this.inspect();
  }

  /** Whether the open image waits for a file of this name: the backing file it misses, or a file of its own. */
  asksFor(name: string): boolean {
    const base = (path: unknown) => (typeof path === 'string' ? path.split(/[\\/]/).pop() : undefined);
    const missingFile = this.error?.kind === 'not-found' ? this.error.context.file : undefined;
    return this.file !== null && [base(this.inspection?.missingBacking), base(missingFile)].includes(name);
  }

  /** Tries a passphrase: the inspection says whether it unlocked the image. */
  unlock(passphrase: string): Promise<void> {
    return this.inspect(passphrase);
  }

  /** Forgets the passphrase and looks again: the prompt asks anew. */
  relock(): Promise<void> {
    this.passphrase = undefined;
    return this.inspect(undefined);
  }

  /** What a job reads: plain copies, as Svelte state cannot be cloned into a worker. */
  get source(): ImageSource | null {
    return this.file ? this.sourceWith(this.passphrase) : null;
  }

  private sourceWith(passphrase: string | undefined): ImageSource {
    return { file: this.file!, backing: [...this.backing], passphrase, ovaDisk: this.ovaDisk };
  }

  private async inspect(passphrase = this.passphrase): Promise<void> {
    if (!this.file) return;
    this.busy = true;
    this.error = null;
    const engine = startEngine();
    try {
      const result = await engine.api.inspect(this.sourceWith(passphrase));
      if (result.ok) {
        // The passphrase becomes the source's only once it has unlocked the image, and in the same
        // step as the inspection: the jobs a new inspection starts (the allocation map) must never
        // read with a wrong one, or they too would say so.
        this.passphrase = result.value.passphraseError ? undefined : passphrase;
        this.inspection = result.value;
      } else this.error = result.error;
    } catch (error) {
      this.error = failureOf(error);
    } finally {
      engine.stop();
      this.busy = false;
    }
  }
}
