/** What the page knows about the opened file; components only read it. */
import type { Inspection, SerializedError } from '../../workers/engine.worker.ts';
import { startEngine } from './engine-client.ts';

export class Inspector {
  fileName = $state<string | null>(null);
  file = $state.raw<File | null>(null);
  busy = $state(false);
  inspection = $state.raw<Inspection | null>(null);
  error = $state.raw<SerializedError | null>(null);

  async open(file: File): Promise<void> {
    this.fileName = file.name;
    this.file = file;
    this.busy = true;
    this.inspection = null;
    this.error = null;
    const engine = startEngine();
    try {
      const result = await engine.api.inspect(file);
      if (result.ok) this.inspection = result.value;
      else this.error = result.error;
    } finally {
      engine.stop();
      this.busy = false;
    }
  }
}
