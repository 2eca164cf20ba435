/** The allocation picture's state: which range of the disk is shown, and its picture once computed. */
import type { AllocationPicture } from '../core/allocation.ts';
import type { ImageSource, SerializedError } from '../../workers/engine.worker.ts';
import { startEngine } from './engine-client.ts';

export const BUCKETS = 1024;
/** The narrowest range worth showing: one 512-byte sector per part. */
const MIN_SPAN = BUCKETS * 512;
const ZOOM = 8;

export class AllocationView {
  start = $state(0);
  end = $state(0);
  picture = $state.raw<AllocationPicture | null>(null);
  busy = $state(false);
  error = $state.raw<SerializedError | null>(null);
  private job = 0;

  constructor(
    private readonly source: ImageSource,
    readonly size: number,
  ) {
    this.end = size;
  }

  get zoomed(): boolean {
    return this.start > 0 || this.end < this.size;
  }

  get canZoomIn(): boolean {
    return this.end - this.start > MIN_SPAN;
  }

  /** Shows [start, end), clamped to the disk; a newer request wins over an older one still running. */
  async show(start: number, end: number): Promise<void> {
    const span = Math.max(Math.min(MIN_SPAN, this.size), end - start);
    start = Math.max(0, Math.min(start, this.size - span));
    this.start = Math.floor(start);
    this.end = Math.min(this.size, Math.ceil(start + span));
    const job = ++this.job;
    this.busy = true;
    const engine = startEngine();
    try {
      const result = await engine.api.picture(this.source, BUCKETS, this.start, this.end);
      if (job !== this.job) return;
      if (result.ok) {
        this.picture = result.value;
        this.error = null;
      } else this.error = result.error;
    } finally {
      engine.stop();
      if (job === this.job) this.busy = false;
    }
  }

  /** Zooms around a guest offset (the middle of the view when none is given). */
  zoomIn(center = (this.start + this.end) / 2): Promise<void> {
    const span = (this.end - this.start) / ZOOM;
    return this.show(center - span / 2, center + span / 2);
  }

  zoomOut(): Promise<void> {
    const center = (this.start + this.end) / 2;
    const span = (this.end - this.start) * ZOOM;
    return this.show(center - span / 2, center + span / 2);
  }

  reset(): Promise<void> {
    return this.show(0, this.size);
  }
}
