/** Opening a disk image: probe (or take) its format, open its layers down the backing chain. */
import { Chain } from './chain.ts';
import type { BackingResolver, DiskImage, OpenOptions, PassphraseSource } from './disk.ts';
import { DiskImgError, isDiskImgError } from './errors.ts';
import { findDriver } from './formats/index.ts';
import type { Layer } from './image.ts';
import { checkFormatName, probeFormat } from './probe.ts';
import type { Storage } from './storage/storage.ts';

export { probeFormat } from './probe.ts';

/** More layers than any real chain has; a longer one is almost surely a loop. */
export const MAX_CHAIN_DEPTH = 256;

export async function openImage(storage: Storage, options: OpenOptions = {}): Promise<DiskImage> {
  const layers: Layer[] = [];
  let missingBacking: string | undefined;
  try {
    missingBacking = await openChain(storage, options, layers);
  } catch (error) {
    // The caller owns `storage`; the backing files opened here are ours to close.
    for (const layer of layers.slice(1)) await layer.storage.close?.().catch(() => {});
    throw error;
  }
  return new Chain(layers, missingBacking);
}

/** Opens the chain into `layers`; returns the backing file name that could not be found, with partialChain. */
async function openChain(storage: Storage, options: OpenOptions, layers: Layer[]): Promise<string | undefined> {
  const seen = new Set<string>();
  let current: Storage = storage;
  let format = options.format;
  for (let depth = 0; ; depth++) {
    let layer: Layer;
    try {
      layer = await openLayer(current, format, depth === 0 ? options : { ...options, snapshot: undefined }, depth);
    } catch (error) {
      if (depth > 0) await current.close?.().catch(() => {});
      throw depth > 0 && isDiskImgError(error)
        ? new DiskImgError(error.kind, `Could not open backing file: ${error.message}`, { ...error.context, file: current.name })
        : error;
    }
    layers.push(layer);
    seen.add(current.name);
    if (options.noBacking || layer.backingFilename === undefined) return undefined;
    if (depth + 1 >= MAX_CHAIN_DEPTH)
      throw new DiskImgError('limit', `Backing chain is deeper than ${MAX_CHAIN_DEPTH} images`, { file: current.name });
    const next = await openBacking(layer, options.resolveBacking, options.partialChain);
    if (!next) return layer.backingFilename;
    if (seen.has(next.name)) {
      await next.close?.().catch(() => {});
      throw new DiskImgError('corrupt', `Backing chain loops: '${current.name}' names '${next.name}', which is already in the chain`, {
        file: current.name,
        field: 'backing file',
        value: layer.backingFilename,
      });
    }
    current = next;
    format = layer.backingFormat;
  }
}

async function openBacking(layer: Layer, resolve: BackingResolver | undefined, partial = false): Promise<Storage | null> {
  const name = layer.backingFilename!;
  try {
    const found = resolve ? await resolve(name, layer.storage) : null;
    if (!found && partial) return null;
    if (!found) throw new DiskImgError('not-found', `Could not open '${name}': No such file or directory`, { file: name });
    return found;
  } catch (error) {
    if (isDiskImgError(error))
      throw new DiskImgError(error.kind, `Could not open backing file: ${error.message}`, {
        ...error.context,
        field: 'backing file',
        value: name,
      });
    throw error;
  }
}

async function openLayer(storage: Storage, format: string | undefined, options: OpenOptions, depth: number): Promise<Layer> {
  if (format === undefined) {
    format = (await probeFormat(storage)).format;
  } else {
    checkFormatName(format);
  }
  const resolveFile = options.resolveFile ?? options.resolveBacking;
  const layer = await findDriver(format)!.open(storage, {
    options,
    depth,
    resolveFile: async (name) => (await resolveFile?.(name, storage)) ?? null,
    openNested: (inner, innerFormat) => openLayer(inner, innerFormat, options, depth),
  });
  try {
    await unlockLayer(layer, depth, options.passphrase, options.crypto);
    if (layer.locked && !options.allowLocked)
      throw (
        layer.needsPassphrase?.() ??
        new DiskImgError('needs-passphrase', 'The image is encrypted: its passphrase is needed to read it', { file: storage.name })
      );
  } catch (error) {
    await layer.close?.();
    throw error;
  }
  return layer;
}

async function unlockLayer(
  layer: Layer,
  depth: number,
  source: PassphraseSource | undefined,
  crypto: OpenOptions['crypto'],
): Promise<void> {
  if (!layer.locked || !layer.unlock || source === undefined) return;
  const passphrase = typeof source === 'function' ? await source({ name: layer.storage.name, depth, format: layer.encryption! }) : source;
  if (passphrase !== undefined) await layer.unlock(passphrase, crypto);
}

/**
 * Unlocks the encrypted images of an image opened with allowLocked (say, after asking the user);
 * a wrong passphrase is 'wrong-passphrase' and leaves the image as it was.
 */
export async function unlockImage(image: DiskImage, passphrase: PassphraseSource, crypto?: OpenOptions['crypto']): Promise<void> {
  for (let depth = 0; depth < image.layers.length; depth++) await unlockLayer(image.layers[depth], depth, passphrase, crypto);
}

/** The encrypted images of the chain still waiting for a passphrase. */
export function lockedLayers(image: DiskImage): Array<{ depth: number; name: string; format: string }> {
  return image.layers.flatMap((layer, depth) => (layer.locked ? [{ depth, name: layer.storage.name, format: layer.encryption! }] : []));
}

export { parseSnapshotSpec } from './formats/qcow2/snapshots.ts';
