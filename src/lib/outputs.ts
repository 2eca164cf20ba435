/** Output naming and delivery in the page: picker file, or OPFS staging and a download. */

export interface ConvertSettings {
  outputFormat: 'raw' | 'qcow2';
  compression: 'none' | 'zlib' | 'zstd';
  clusterSize: number;
  compat: '0.10' | '1.1';
}

/** VM.img → VM.qcow2; a name that would not change gets "-converted". */
export function outputName(input: string, format: 'raw' | 'qcow2'): string {
  const dot = input.lastIndexOf('.');
  const stem = dot > 0 ? input.slice(0, dot) : input;
  const name = `${stem}.${format}`;
  return name === input ? `${stem}-converted.${format}` : name;
}

const quote = (s: string) => (/^[\w./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The qemu-img command line that does the same job. */
export function equivalentCommand(input: string, inputFormat: string, output: string, s: ConvertSettings, snapshotId = ''): string {
  const parts = ['qemu-img', 'convert', '-p', '-f', inputFormat];
  if (snapshotId) parts.push('-l', `snapshot.id=${snapshotId}`);
  parts.push('-O', s.outputFormat);
  if (s.outputFormat === 'qcow2') {
    if (s.compression !== 'none') parts.push('-c');
    const options: string[] = [];
    if (s.clusterSize !== 65536) options.push(`cluster_size=${s.clusterSize}`);
    if (s.compat !== '1.1') options.push(`compat=${s.compat}`);
    if (s.compression === 'zstd') options.push('compression_type=zstd');
    if (options.length) parts.push('-o', options.join(','));
  }
  parts.push(quote(input), quote(output));
  return parts.join(' ');
}

export const STAGING_PREFIX = 'diskimg-staged-';

/**
 * Removes one staged output. A worker just terminated may still hold the file's lock for a
 * moment, so removal is retried for up to two seconds before giving up.
 */
export async function removeStaged(name: string): Promise<void> {
  const root = await navigator.storage.getDirectory();
  await retryRemoval(() => root.removeEntry(name));
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
 * Removes what earlier visits left staged (a closed tab, a crash). A file another tab is still
 * writing is locked by its worker and stays: one attempt each, failures ignored.
 */
export async function sweepStaged(keep?: string): Promise<void> {
  const root = await navigator.storage.getDirectory();
  const names: string[] = [];
  for await (const name of (root as unknown as { keys(): AsyncIterable<string> }).keys()) if (name.startsWith(STAGING_PREFIX) && name !== keep) names.push(name);
  for (const name of names) await root.removeEntry(name).catch(() => {});
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
