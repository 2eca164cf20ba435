/**
 * A window onto the guest disk: a partition (or the whole disk) read by offset, never past its
 * end. Probes ask for a few sectors at a time; every read is capped so hostile numbers in a
 * superblock or table can never turn into a big allocation.
 */
import type { DiskImage } from '../disk.ts';
import { DiskImgError } from '../errors.ts';

/** The only part of a DiskImage the probes need, so tests can hand in bytes directly. */
export type GuestReader = Pick<DiskImage, 'read' | 'virtualSize'>;

/** No single probe read is larger than this. */
export const MAX_PROBE_READ = 1024 * 1024;

export class ByteSource {
  constructor(
    private readonly disk: GuestReader,
    /** Where the window starts on the guest disk. */
    readonly start: number,
    /** Bytes in the window (clipped to the disk). */
    readonly size: number,
  ) {}

  static whole(disk: GuestReader): ByteSource {
    return new ByteSource(disk, 0, disk.virtualSize);
  }

  /** A sub-window, clipped to this one. */
  slice(offset: number, length: number): ByteSource {
    const start = Math.min(Math.max(0, offset), this.size);
    return new ByteSource(this.disk, this.start + start, Math.max(0, Math.min(length, this.size - start)));
  }

  /** Bytes at `offset`; null when any of them lies outside the window. */
  async read(offset: number, length: number): Promise<Uint8Array | null> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size)
      return null;
    if (length > MAX_PROBE_READ)
      throw new DiskImgError('limit', `A probe read of ${length} bytes is larger than ${MAX_PROBE_READ}`, {
        offset: this.start + offset,
        value: length,
      });
    return this.disk.read(this.start + offset, length);
  }
}
