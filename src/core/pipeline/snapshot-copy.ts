/**
 * qemu-img snapshot -c / -d into a new file: the input with one internal snapshot added or
 * removed, the input itself untouched. The in-place code (formats/qcow2/snapshot-write.ts) runs
 * against a PatchedStorage over the input — only the tables it changes are held — and the result is
 * then written out front to back, so any sink takes it, a download stream included.
 */
import { DiskImgError } from '../errors.ts';
import { openImage } from '../open.ts';
import { Qcow2Layer } from '../formats/qcow2/layer.ts';
import { createSnapshot, deleteSnapshot } from '../formats/qcow2/snapshot-write.ts';
import { PatchedStorage } from '../storage/patched.ts';
import type { Storage } from '../storage/storage.ts';
import type { Sink } from '../sink.ts';
import { throwIfAborted } from './convert.ts';

export type SnapshotChange = { action: 'create'; name: string; now?: Date } | { action: 'delete'; name: string };

export interface SnapshotCopyOptions {
  /** Bytes written of the output's length. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** The pieces the result is written in. */
const PIECE = 4 << 20;

/**
 * Opens `input` (a qcow2), runs `apply` — an in-place verb — against a PatchedStorage over it, and
 * writes the result into `sink` front to back; returns the output's length. Closes `input` when done.
 */
export async function copyWithChanges(
  input: Storage,
  apply: (patched: PatchedStorage, layer: Qcow2Layer) => Promise<void>,
  sink: Sink,
  options: SnapshotCopyOptions = {},
  /** Why another format is refused, before ": this image is FORMAT". */
  qcow2Only = 'Only a qcow2 image can be changed so',
): Promise<number> {
  const image = await openImage(input, { noBacking: true, allowLocked: true });
  try {
    const [layer] = image.layers;
    if (!(layer instanceof Qcow2Layer))
      throw new DiskImgError('unsupported', `${qcow2Only}: this image is ${layer.format}`, { field: 'format' });
    const patched = new PatchedStorage(input);
    await apply(patched, layer);
    return await writeOut(patched, sink, options);
  } finally {
    await image.close();
  }
}

/** Writes `input` with `change` made into `sink`; returns the output's length. Closes `input` when done. */
export async function copyWithSnapshotChange(
  input: Storage,
  change: SnapshotChange,
  sink: Sink,
  options: SnapshotCopyOptions = {},
): Promise<number> {
  return copyWithChanges(
    input,
    (patched, layer) => changeSnapshot(patched, layer, change),
    sink,
    options,
    'Internal snapshots are a qcow2 feature',
  );
}

async function changeSnapshot(patched: PatchedStorage, layer: Qcow2Layer, change: SnapshotChange): Promise<void> {
  if (change.name === '') throw new DiskImgError('usage', 'A snapshot needs a name', { field: 'name' });
  if (change.action === 'create') {
    if (layer.snapshots.some((s) => s.name === change.name))
      throw new DiskImgError('usage', `The image already has a snapshot named '${change.name}': choose another name`, {
        field: 'name',
        value: change.name,
      });
    await createSnapshot(patched, layer.header, change.name, change.now);
  } else {
    await deleteSnapshot(patched, layer.header, change.name);
  }
}

/** The changed file into the sink, in order, a piece at a time. */
async function writeOut(patched: PatchedStorage, sink: Sink, options: SnapshotCopyOptions): Promise<number> {
  const length = await patched.length();
  await sink.truncate?.(length);
  const piece = new Uint8Array(Math.min(PIECE, Math.max(1, length)));
  for (let at = 0; at < length; at += PIECE) {
    throwIfAborted(options.signal);
    const bytes = piece.subarray(0, Math.min(PIECE, length - at));
    await patched.readInto(at, bytes);
    await sink.write(at, bytes);
    options.onProgress?.(at + bytes.length, length);
  }
  return length;
}
