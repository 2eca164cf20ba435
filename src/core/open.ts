/** Opening a disk image: probe (or take) its format, open its layers down the backing chain. */
import { Chain } from './chain.ts';
import type { BackingResolver, DiskImage, OpenOptions, PassphraseSource } from './disk.ts';
import { DiskImgError, isDiskImgError } from './errors.ts';
import { Qcow2Layer } from './formats/qcow2/layer.ts';
import { INCOMPAT_DATA_FILE, hasIncompat } from './formats/qcow2/header.ts';
import { RawLayer } from './formats/raw.ts';
import type { Layer } from './image.ts';
import { checkFormatName, probeFormat } from './probe.ts';
import type { Storage } from './storage/storage.ts';
import type { SnapshotWanted } from './formats/qcow2/snapshots.ts';

export { probeFormat } from './probe.ts';

/** More layers than any real chain has; a longer one is almost surely a loop. */
export const MAX_CHAIN_DEPTH = 256;

export async function openImage(storage: Storage, options: OpenOptions = {}): Promise<DiskImage> {
  const layers: Layer[] = [];
  try {
    await openChain(storage, options, layers);
  } catch (error) {
    // The caller owns `storage`; the backing files opened here are ours to close.
    for (const layer of layers.slice(1)) await layer.storage.close?.().catch(() => {});
    throw error;
  }
  return new Chain(layers);
}

async function openChain(storage: Storage, options: OpenOptions, layers: Layer[]): Promise<void> {
  const seen = new Set<string>();
  let current: Storage = storage;
  let format = options.format;
  for (let depth = 0; ; depth++) {
    let layer: Layer;
    try {
      layer = await openLayer(current, format, depth === 0 ? options : { ...options, snapshot: undefined }, depth);
    } catch (error) {
      if (depth > 0) await current.close?.().catch(() => {});
      throw depth > 0 && isDiskImgError(error) ? new DiskImgError(error.kind, `Could not open backing file: ${error.message}`, { ...error.context, file: current.name }) : error;
    }
    layers.push(layer);
    seen.add(current.name);
    if (options.noBacking || layer.backingFilename === undefined) return;
    if (depth + 1 >= MAX_CHAIN_DEPTH) throw new DiskImgError('limit', `Backing chain is deeper than ${MAX_CHAIN_DEPTH} images`, { file: current.name });
    const next = await openBacking(layer, options.resolveBacking);
    if (seen.has(next.name)) {
      await next.close?.().catch(() => {});
      throw new DiskImgError('corrupt', `Backing chain loops: '${current.name}' names '${next.name}', which is already in the chain`, { file: current.name, field: 'backing file', value: layer.backingFilename });
    }
    current = next;
    format = layer.backingFormat;
  }
}

async function openBacking(layer: Layer, resolve: BackingResolver | undefined): Promise<Storage> {
  const name = layer.backingFilename!;
  try {
    const found = resolve ? await resolve(name, layer.storage) : null;
    if (!found) throw new DiskImgError('not-found', `Could not open '${name}': No such file or directory`, { file: name });
    return found;
  } catch (error) {
    if (isDiskImgError(error)) throw new DiskImgError(error.kind, `Could not open backing file: ${error.message}`, { ...error.context, field: 'backing file', value: name });
    throw error;
  }
}

async function openLayer(storage: Storage, format: string | undefined, options: OpenOptions, depth: number): Promise<Layer> {
  if (format === undefined) {
    const probed = await probeFormat(storage);
    if (probed.unsupported) throw new DiskImgError('unsupported', probed.unsupported, { file: storage.name, field: 'format', value: probed.format });
    format = probed.format;
  } else {
    checkFormatName(format);
  }
  if (format === 'raw') return new RawLayer(storage);
  const { header, extensions } = await Qcow2Layer.readMetadata(storage);
  let dataFile: Storage | undefined;
  if (hasIncompat(header, INCOMPAT_DATA_FILE) && extensions.dataFile !== undefined) {
    const resolve = options.resolveDataFile ?? options.resolveBacking;
    dataFile = (await resolve?.(extensions.dataFile, storage)) ?? undefined;
    if (!dataFile && !options.noBacking) throw new DiskImgError('not-found', `Could not open '${extensions.dataFile}': No such file or directory`, { file: extensions.dataFile, field: 'data file' });
  }
  const layer = await Qcow2Layer.open(storage, { dataFile, snapshot: parseSnapshotSpec(options.snapshot), decoders: options.decoders });
  try {
    await unlockLayer(layer, depth, options.passphrase, options.crypto);
    if (layer.locked && !options.allowLocked) throw layer.needsPassphrase();
  } catch (error) {
    await layer.close();
    throw error;
  }
  return layer;
}

async function unlockLayer(layer: Qcow2Layer, depth: number, source: PassphraseSource | undefined, crypto: OpenOptions['crypto']): Promise<void> {
  if (!layer.locked || source === undefined) return;
  const passphrase = typeof source === 'function' ? await source({ name: layer.storage.name, depth, format: layer.encryption! }) : source;
  if (passphrase !== undefined) await layer.unlock(passphrase, crypto);
}

/**
 * Unlocks the encrypted images of an image opened with allowLocked (say, after asking the user);
 * a wrong passphrase is 'wrong-passphrase' and leaves the image as it was.
 */
export async function unlockImage(image: DiskImage, passphrase: PassphraseSource, crypto?: OpenOptions['crypto']): Promise<void> {
  for (let depth = 0; depth < image.layers.length; depth++) {
    const layer = image.layers[depth];
    if (layer instanceof Qcow2Layer) await unlockLayer(layer, depth, passphrase, crypto);
  }
}

/** The encrypted images of the chain still waiting for a passphrase. */
export function lockedLayers(image: DiskImage): Array<{ depth: number; name: string; format: 'aes' | 'luks' }> {
  return image.layers.flatMap((layer, depth) => (layer instanceof Qcow2Layer && layer.locked ? [{ depth, name: layer.storage.name, format: layer.encryption! }] : []));
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
