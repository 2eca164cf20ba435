/**
 * Where a job's output goes: the file the user picks (showSaveFilePicker), or, without the picker,
 * a staging file in the Origin Private File System that is downloaded when complete. Shared by
 * conversions and disc extractions.
 */
import type { OutputTarget, SerializedError } from '../../workers/engine.worker.ts';
import { downloadStaged, holdStaged, removePicked, removeStaged, STAGING_PREFIX, sweepStaged } from './outputs.ts';

type PickerWindow = Window & { showSaveFilePicker?: (options: { suggestedName: string }) => Promise<FileSystemFileHandle> };

export interface SaveTarget {
  name: string;
  output: OutputTarget;
  staged?: string;
  handle?: FileSystemFileHandle;
}

/**
 * Call straight from the click (the picker needs the gesture). null when the user closed the
 * picker; an error when the chosen file is one of the inputs (checked before anything is written).
 */
export async function chooseSaveTarget(name: string, inputHandles: FileSystemFileHandle[] = []): Promise<SaveTarget | SerializedError | null> {
  const picker = (window as PickerWindow).showSaveFilePicker;
  try {
    if (picker) {
      const handle = await picker({ suggestedName: name });
      for (const input of inputHandles) {
        if (await handle.isSameEntry(input)) {
          return { kind: 'usage', message: `The output '${handle.name}' is the input '${input.name}': diskimg never writes to its input. Choose another name.`, context: { file: handle.name } };
        }
      }
      return { name, output: { kind: 'handle', handle }, handle };
    }
    const staged = `${STAGING_PREFIX}${Date.now()}-${Math.random().toString(36).slice(2, 8)}-${name}`;
    holdStaged(staged);
    // Removing the last job's output (a GiB or more) took up to 0.2 s: it goes on beside this job.
    void sweepStaged().catch(() => {});
    return { name, output: { kind: 'opfs', name: staged }, staged };
  } catch (error) {
    if ((error as DOMException).name === 'AbortError') return null;
    throw error;
  }
}

export const isSaveTarget = (value: SaveTarget | SerializedError | null): value is SaveTarget => value !== null && 'output' in value;

/** After a complete job: a staged output is handed to the browser's downloads. */
export async function deliver(target: SaveTarget): Promise<'saved' | 'downloaded'> {
  if (!target.staged) return 'saved';
  await downloadStaged(target.staged, target.name);
  return 'downloaded';
}

/** After a failed or cancelled job: nothing partial may stay looking whole. */
export async function discard(target: SaveTarget): Promise<void> {
  if (target.staged) await removeStaged(target.staged);
  else if (target.handle) await removePicked(target.handle);
}
