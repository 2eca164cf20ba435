/**
 * The internal snapshot table (qcow2.txt "Snapshots"): variable-length entries, each with its
 * own L1 table, read the way QEMU's qcow2_read_snapshots reads them, with the same limits.
 */
import { be64, utf8, view } from '../../bytes.ts';
import { DiskImgError } from '../../errors.ts';
import type { Storage } from '../../storage/storage.ts';
import type { Qcow2Header } from './header.ts';

export const MAX_SNAPSHOT_EXTRA_DATA = 1024;
export const MAX_SNAPSHOT_TABLE_BYTES = 64 * 1024 * 1024;

export interface Snapshot {
  id: string;
  name: string;
  l1TableOffset: number;
  l1Size: number;
  dateSec: number;
  dateNsec: number;
  vmClockNsec: number;
  vmStateSize: number;
  /** Virtual size when the snapshot was taken (extra data), if recorded. */
  diskSize?: number;
  /** Instruction count, -1 when not recorded. */
  icount: number;
}

/** Reads a byte range in chunks so a big table is never read in one piece beyond what is needed. */
class Cursor {
  private chunk: Uint8Array = new Uint8Array(0);
  private chunkStart = 0;
  constructor(
    private readonly storage: Storage,
    public position: number,
  ) {}

  async take(length: number): Promise<Uint8Array> {
    const end = this.position + length;
    if (this.position < this.chunkStart || end > this.chunkStart + this.chunk.length) {
      this.chunkStart = this.position;
      this.chunk = await this.storage.read(this.position, Math.max(length, 65536));
    }
    const out = this.chunk.subarray(this.position - this.chunkStart, end - this.chunkStart);
    this.position = end;
    return out;
  }
}

export async function readSnapshots(storage: Storage, h: Qcow2Header): Promise<Snapshot[]> {
  const snapshots: Snapshot[] = [];
  const cursor = new Cursor(storage, h.snapshotsOffset);
  for (let i = 0; i < h.nbSnapshots; i++) {
    cursor.position = (cursor.position + 7) & ~7;
    const entryStart = cursor.position;
    const head = view(await cursor.take(40));
    const idSize = head.getUint16(12);
    const nameSize = head.getUint16(14);
    const extraSize = head.getUint32(36);
    if (extraSize > MAX_SNAPSHOT_EXTRA_DATA) {
      throw new DiskImgError('limit', `Too much extra metadata in snapshot table entry ${i}`, {
        field: 'extra_data_size',
        offset: entryStart + 36,
        value: extraSize,
      });
    }
    const extra = view(await cursor.take(extraSize));
    const id = utf8(await cursor.take(idSize));
    const name = utf8(await cursor.take(nameSize));
    if (cursor.position - h.snapshotsOffset > MAX_SNAPSHOT_TABLE_BYTES) {
      throw new DiskImgError('limit', 'Snapshot table too large', { field: 'nb_snapshots', offset: 60, value: h.nbSnapshots });
    }
    snapshots.push({
      id,
      name,
      l1TableOffset: be64(head, 0),
      l1Size: head.getUint32(8),
      dateSec: head.getUint32(16),
      dateNsec: head.getUint32(20),
      vmClockNsec: be64(head, 24),
      vmStateSize: extraSize >= 8 ? be64(extra, 0) : head.getUint32(32),
      diskSize: extraSize >= 16 ? be64(extra, 8) : undefined,
      icount: extraSize >= 24 ? Number(extra.getBigInt64(16)) : -1,
    });
  }
  return snapshots;
}

export interface SnapshotWanted {
  id?: string;
  name?: string;
  /** qemu-img -l ID_OR_NAME: the id is tried first, then the name. */
  idOrName?: string;
}

export function findSnapshot(snapshots: readonly Snapshot[], wanted: SnapshotWanted): Snapshot | undefined {
  if (wanted.idOrName !== undefined) {
    return snapshots.find((s) => s.id === wanted.idOrName) ?? snapshots.find((s) => s.name === wanted.idOrName);
  }
  return snapshots.find((s) => (wanted.id === undefined || s.id === wanted.id) && (wanted.name === undefined || s.name === wanted.name));
}

/** qemu-img's -l syntax: snapshot.id=ID[,snapshot.name=NAME], snapshot.name=NAME, or ID_OR_NAME. */
export function parseSnapshotSpec(spec: string | undefined): SnapshotWanted | undefined {
  if (spec === undefined) return undefined;
  if (!spec.startsWith('snapshot.')) return { idOrName: spec };
  const out: SnapshotWanted = {};
  for (const part of spec.split(',')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    if (key === 'snapshot.id') out.id = value;
    else if (key === 'snapshot.name') out.name = value;
    else throw new DiskImgError('usage', `Invalid snapshot option '${part}'`, { field: 'snapshot', value: part });
  }
  return out;
}
