/** The disc's file browser: one folder at a time (so 100 000 entries stay light), and the chosen entry. */
import type { DiscRow } from '../../../workers/disc.worker.ts';
import type { SerializedError } from '../../../workers/engine.worker.ts';
import { startDiscWorker } from '../disc-client.ts';

const collator = new Intl.Collator(undefined, { numeric: true });

export class DiscBrowser {
  path = $state('/');
  children = $state.raw<DiscRow[]>([]);
  selected = $state.raw<DiscRow | null>(null);
  busy = $state(false);
  error = $state.raw<SerializedError | null>(null);
  private job = 0;

  constructor(private readonly file: File) {}

  get parent(): string | null {
    if (this.path === '/') return null;
    return this.path.slice(0, this.path.lastIndexOf('/')) || '/';
  }

  async cd(path: string): Promise<void> {
    const job = ++this.job;
    this.busy = true;
    const worker = startDiscWorker();
    try {
      const result = await worker.api.list(this.file, path);
      if (job !== this.job) return;
      if (!result.ok) {
        this.error = result.error;
        return;
      }
      this.error = null;
      this.path = result.value.entry.path;
      // Folders first, then names as people sort them (file-2 before file-10).
      this.children = result.value.children.sort(
        (a, b) => (a.type === 'dir' ? 0 : 1) - (b.type === 'dir' ? 0 : 1) || collator.compare(a.name, b.name),
      );
      this.selected = result.value.entry.path === '/' ? null : result.value.entry;
    } finally {
      worker.stop();
      if (job === this.job) this.busy = false;
    }
  }
}
