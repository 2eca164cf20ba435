/** A guest file system's browser: one folder at a time (so 100 000 entries stay light), and the chosen entry. */
import type { FsPlace, FsRow, ImageSource, SerializedError } from '../../../workers/engine.worker.ts';
import { startEngine } from '../engine-client.ts';

const collator = new Intl.Collator(undefined, { numeric: true });

export class FsBrowser {
  path = $state('/');
  children = $state.raw<FsRow[]>([]);
  selected = $state.raw<FsRow | null>(null);
  /** The file system's own notes (a journal that needs recovery). */
  warnings = $state.raw<string[]>([]);
  type = $state('');
  busy = $state(false);
  error = $state.raw<SerializedError | null>(null);
  private job = 0;

  constructor(
    private readonly source: ImageSource,
    readonly place: FsPlace,
  ) {}

  get parent(): string | null {
    if (this.path === '/') return null;
    return this.path.slice(0, this.path.lastIndexOf('/')) || '/';
  }

  async cd(path: string): Promise<void> {
    const job = ++this.job;
    this.busy = true;
    const engine = startEngine();
    try {
      const result = await engine.api.fsList(this.source, this.place, path);
      if (job !== this.job) return;
      if (!result.ok) {
        this.error = result.error;
        return;
      }
      this.error = null;
      this.type = result.value.type;
      this.warnings = result.value.warnings;
      this.path = result.value.entry.path;
      // Folders first, then names as people sort them (file-2 before file-10).
      this.children = result.value.children.sort(
        (a, b) => (a.type === 'dir' ? 0 : 1) - (b.type === 'dir' ? 0 : 1) || collator.compare(a.name, b.name),
      );
      this.selected = result.value.entry.path === '/' ? null : result.value.entry;
    } finally {
      engine.stop();
      if (job === this.job) this.busy = false;
    }
  }
}
