/**
 * Where a job's output goes, chosen at job time by feature tests (never by user agent), best
 * first: the file the user picks (showSaveFilePicker); a staging file in the Origin Private File
 * System downloaded when complete; a download streamed through the app's service worker as the
 * engine fills it; a Blob, for small outputs only. Conversions and disc extractions alike.
 */
import type { OutputCapabilities, OutputTarget, SerializedError } from '../../workers/engine.worker.ts';
import { downloadStaged, holdStaged, removePicked, removeStaged, STAGING_PREFIX, sweepStaged } from './outputs.ts';
import { downloadBlob, openStreamDownload, type StreamDownload } from './stream-download.ts';

/** The rungs of the ladder, best first. */
export type Rung = 'handle' | 'opfs' | 'stream' | 'memory';

/** Which rung a job took and what ruled out the better ones (the page says it in one sentence). */
export interface Route {
  rung: Rung;
  /** OPFS exists here but has less room than the output may take. */
  opfsFull?: boolean;
  /** The most the output may take: qemu-img measure's required size (raw: exact; qcow2: an upper bound). */
  size?: number;
  /** What OPFS can still take, when the browser says. */
  free?: number;
}

/** A Blob is built only for outputs up to this size, and only where nothing else exists. */
export const MEMORY_LIMIT = 256 << 20;

type PickerWindow = Window & { showSaveFilePicker?: (options: { suggestedName: string }) => Promise<FileSystemFileHandle> };

export interface SaveTarget {
  name: string;
  output: OutputTarget;
  route: Route;
  staged?: string;
  handle?: FileSystemFileHandle;
  stream?: StreamDownload;
}

/** Refused before anything is written: no rung can hold the output. */
export interface Refusal {
  refused: true;
  size: number;
  free?: number;
  opfs: boolean;
}

type Picked = SaveTarget | SerializedError | null | undefined;

/** The save picker, where the browser has one (undefined where it has none). */
async function pickFile(name: string, inputHandles: FileSystemFileHandle[]): Promise<Picked> {
  const picker = (window as PickerWindow).showSaveFilePicker;
  if (typeof picker !== 'function') return undefined;
  try {
    const handle = await picker({ suggestedName: name });
    for (const input of inputHandles) {
      if (await handle.isSameEntry(input)) {
        return {
          kind: 'usage',
          message: `The output '${handle.name}' is the input '${input.name}': diskimg never writes to its input. Choose another name.`,
          context: { file: handle.name },
        };
      }
    }
    return { name, output: { kind: 'handle', handle }, handle, route: { rung: 'handle' } };
  } catch (error) {
    if ((error as DOMException).name === 'AbortError') return null;
    throw error;
  }
}

function stage(name: string, route: Route): SaveTarget {
  const staged = `${STAGING_PREFIX}${Date.now()}-${Math.random().toString(36).slice(2, 8)}-${name}`;
  holdStaged(staged);
  // Removing the last job's output (a GiB or more) took up to 0.2 s: it goes on beside this job.
  void sweepStaged().catch(() => {});
  return { name, output: { kind: 'opfs', name: staged }, staged, route };
}

/**
 * For a conversion: call straight from the click (the picker needs the gesture). Without the
 * picker, `probe` (the engine) says what OPFS can do here and how large the output may get, and
 * the first rung that can hold it is taken; a job no rung can hold is refused before it starts.
 */
export async function chooseConvertTarget(
  name: string,
  inputHandles: FileSystemFileHandle[],
  probe: () => Promise<{ capabilities: OutputCapabilities; size: number; exact: boolean }>,
): Promise<SaveTarget | SerializedError | Refusal | null> {
  const picked = await pickFile(name, inputHandles);
  if (picked !== undefined) return picked;
  const { capabilities, size, exact } = await probe();
  const { opfs, free } = capabilities;
  if (opfs && (free === undefined || size <= free)) return stage(name, { rung: 'opfs', size, free });
  const opfsFull = opfs;
  const stream = await openStreamDownload(name, exact ? size : undefined);
  if (stream) return { name, output: { kind: 'stream', port: stream.port }, stream, route: { rung: 'stream', opfsFull, size, free } };
  if (size <= MEMORY_LIMIT) return { name, output: { kind: 'memory' }, route: { rung: 'memory', opfsFull, size, free } };
  return { refused: true, size, free: opfs ? free : undefined, opfs };
}

export const isSaveTarget = (value: SaveTarget | SerializedError | Refusal | null): value is SaveTarget =>
  value !== null && 'output' in value;

/**
 * After a complete job: a staged output (or a small one built in memory) is handed to the
 * browser's downloads; a streamed one is already there.
 */
export async function deliver(target: SaveTarget, blob?: Blob): Promise<'saved' | 'downloaded'> {
  if (target.stream) {
    target.stream.stop();
    return 'downloaded';
  }
  if (blob) {
    downloadBlob(blob, target.name);
    return 'downloaded';
  }
  if (!target.staged) return 'saved';
  await downloadStaged(target.staged, target.name);
  return 'downloaded';
}

/** After a failed or cancelled job: nothing partial may stay looking whole. */
export async function discard(target: SaveTarget): Promise<void> {
  if (target.stream) target.stream.abort();
  else if (target.staged) await removeStaged(target.staged);
  else if (target.handle) await removePicked(target.handle);
}
