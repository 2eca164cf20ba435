/** A file inside an archive as a Storage of its own: reads map to [offset, offset + size) of the archive. */
import { padToLength, type Storage } from '../../storage/storage.ts';

export class WindowStorage implements Storage {
  constructor(
    private readonly archive: Storage,
    private readonly offset: number,
    readonly size: number,
    readonly name: string,
  ) {}

  async read(offset: number, length: number): Promise<Uint8Array> {
    const inside = Math.max(0, Math.min(length, this.size - offset));
    if (inside === 0) return new Uint8Array(length);
    return padToLength(await this.archive.read(this.offset + offset, inside), length);
  }

  /** The archive belongs to whoever opened it: closing a window leaves it open. */
  async close(): Promise<void> {}
}
