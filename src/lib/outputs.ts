/** Output naming and delivery in the page: picker file, or OPFS staging and a download. */
import type { OutputFormat } from '../core/pipeline/convert-image.ts';
import { outputDriver } from '../core/formats/outputs.ts';
import type { Destination, PageFormat } from './destinations.ts';

export interface ConvertSettings {
  outputFormat: PageFormat;
  /** -o options of formats other than raw and qcow2, as qemu-img spells them. */
  formatOptions: Record<string, string>;
  /** The hypervisor the disk is going to, when the user chose one (it set format and options). */
  destination: Destination | '';
  compression: 'none' | 'zlib' | 'zstd';
  clusterSize: number;
  compat: '0.10' | '1.1';
  /** qcow2's refcount width (qemu-img's refcount_bits; 16 by default, other widths need compat 1.1). */
  refcountBits: number;
  /** qcow2's lazy_refcounts (compat 1.1 only). */
  lazyRefcounts: boolean;
}

/** qcow2 features compat 0.10 lacks: there, they take their defaults (as qemu-img would refuse them). */
export function qcow2Features(settings: ConvertSettings): { refcountBits: number; lazyRefcounts: boolean } {
  return settings.compat === '0.10'
    ? { refcountBits: 16, lazyRefcounts: false }
    : { refcountBits: settings.refcountBits, lazyRefcounts: settings.lazyRefcounts };
}

/**
 * VM.img → VM.qcow2 (VM.vhd for vpc); a name that would not change gets "-converted". A
 * snapshot's state is named after it (VM-before-upgrade.raw), so two exported states never look
 * like the same file.
 */
export function outputName(input: string, format: OutputFormat | 'ova', snapshotName = ''): string {
  const dot = input.lastIndexOf('.');
  const base = dot > 0 ? input.slice(0, dot) : input;
  const tag = snapshotName.replace(/[^\p{L}\p{N}._-]+/gu, '-').replace(/^-+|-+$/g, '');
  const stem = tag ? `${base}-${tag}` : base;
  // raw keeps its historical ".raw" ending; the others take their format's usual one.
  const ending = format === 'raw' || format === 'ova' ? format : outputDriver(format).extension;
  const name = `${stem}.${ending}`;
  return name === input ? `${stem}-converted.${ending}` : name;
}

export const STAGING_PREFIX = 'diskimg-staged-';

/**
 * The staged outputs this tab holds a Web Lock on (named after the file), each with what lets it
 * go. A finished output stays staged while its download may still read it, until this tab's next
 * job or its closing; the lock tells other tabs' sweeps to leave it alone meanwhile.
 */
const held = new Map<string, () => void>();
/** The output this tab's newest job writes or has written: no sweep removes it. */
let newest: string | undefined;

/** Call before the output is staged: this tab holds it until it removes it or closes. */
export function holdStaged(name: string): void {
  newest = name;
  if (!navigator.locks) return;
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  held.set(name, release);
  // Released before the lock is granted, the lock is let go as soon as it is.
  void navigator.locks.request(name, () => released);
}

function letGo(name: string): void {
  held.get(name)?.();
  held.delete(name);
}

/** Staged outputs another tab holds (or is about to): theirs to remove. */
async function heldElsewhere(): Promise<Set<string>> {
  const state = await navigator.locks?.query();
  const names = [...(state?.held ?? []), ...(state?.pending ?? [])].map((lock) => lock.name ?? '');
  return new Set(names.filter((name) => name.startsWith(STAGING_PREFIX) && !held.has(name)));
}

/**
 * Removes one staged output. A worker just terminated may still hold the file's lock for a
 * moment, so removal is retried for up to two seconds before giving up.
 */
export async function removeStaged(name: string): Promise<void> {
  const root = await navigator.storage.getDirectory();
  await retryRemoval(() => root.removeEntry(name));
  letGo(name);
}

/** Removes a file the user picked for output (where the browser can: Chromium's handle.remove). */
export async function removePicked(handle: FileSystemFileHandle): Promise<void> {
  const remove = (handle as unknown as { remove?(): Promise<void> }).remove;
  if (remove) await retryRemoval(() => remove.call(handle));
}

async function retryRemoval(remove: () => Promise<void>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await remove();
      return;
    } catch (error) {
      if ((error as DOMException).name === 'NotFoundError') return;
      if (attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * Removes what this tab's earlier jobs and earlier visits left staged (a closed tab, a crash).
 * This tab's newest output stays (checked at each removal: a job may start while a sweep runs),
 * and what another tab holds (it may still be writing or downloading it). One attempt each,
 * failures ignored.
 */
export async function sweepStaged(): Promise<void> {
  const root = await navigator.storage.getDirectory();
  const theirs = await heldElsewhere();
  const names: string[] = [];
  for await (const name of (root as unknown as { keys(): AsyncIterable<string> }).keys()) {
    if (name.startsWith(STAGING_PREFIX) && !theirs.has(name)) names.push(name);
  }
  for (const name of names) {
    if (name !== newest)
      await root.removeEntry(name).then(
        () => letGo(name),
        () => {},
      );
  }
}

/** Hands a staged OPFS file to the browser's download manager, without reading it into memory. */
export async function downloadStaged(staged: string, name: string): Promise<void> {
  const root = await navigator.storage.getDirectory();
  const file = await (await root.getFileHandle(staged)).getFile();
  const url = URL.createObjectURL(file);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
