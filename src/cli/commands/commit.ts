import type { DiskImage } from '../../core/disk.ts';
import type { Layer } from '../../core/image.ts';
import { commitToBase, type CommitTarget, qcow2Target, rawTarget } from '../../core/formats/qcow2/commit.ts';
import { parseHeader } from '../../core/formats/qcow2/header.ts';
import { Qcow2Layer } from '../../core/formats/qcow2/layer.ts';
import { makeEmpty } from '../../core/formats/qcow2/make-empty.ts';
import { refuseUnwritable } from '../../core/formats/qcow2/guest-writer.ts';
import { resizeQcow2 } from '../../core/formats/qcow2/resize.ts';
import { NodeWritableFile } from '../../node/writable-file.ts';
import { parseArgs, parseSize } from '../args.ts';
import { absolutePath, type CliIO, explain, fail, openForCommand, refuseChainInUse, usage } from '../context.ts';
import { progressPrinter } from '../progress.ts';

export const commitHelp =
  'commit [-f FMT] [-t CACHE] [-b BASE] [-d] [-r RATE] [-p] [-q] FILE   (writes into the backing file in place, qcow2 overlays)';

/** QEMU's cache modes (bdrv_parse_cache_mode): accepted, and the same to diskimg, which syncs each step. */
export const CACHE_MODES = ['none', 'off', 'writeback', 'writethrough', 'directsync', 'unsafe'];

/** bdrv_find_backing_image: BASE names a layer below the top, by the name the layer above stores or by its path. */
function findBase(layers: readonly Layer[], base: string): number {
  for (let depth = 1; depth < layers.length; depth++) {
    const stored = layers[depth - 1].backingFilename;
    if (stored === base || absolutePath(layers[depth].storage.name) === absolutePath(base)) return depth;
  }
  return -1;
}

async function openTarget(io: CliIO, layer: Layer, file: NodeWritableFile, size: number): Promise<CommitTarget> {
  if (layer instanceof Qcow2Layer) {
    let header = layer.header;
    refuseUnwritable(header, file.name);
    // As mirror_run: a base smaller than the top grows to the top's size first.
    if (header.virtualSize < size) {
      await resizeQcow2(file, header, size, { hasBitmaps: layer.extensions.bitmaps !== undefined });
      header = parseHeader(await file.read(0, header.clusterSize));
    }
    return qcow2Target(file, header);
  }
  if (layer.format !== 'raw') fail(io, `diskimg commits into qcow2 and raw backing files, not ${layer.format}`);
  if ((await file.length()) < size) await file.truncate(size);
  return rawTarget(file);
}

/** qemu-img commit: the overlay's data written into its backing file, in place, then the overlay emptied. */
export async function commit(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv, {
    withValue: 'ftbr',
    flags: 'dpqh',
    long: { 'image-opts': { key: 'image-opts', value: false }, object: { key: 'object', value: true } },
  });
  if (args.positional.length !== 1) usage('Expecting one image file name');
  const [file] = args.positional;
  const cache = args.values.get('t') ?? 'writeback';
  if (!CACHE_MODES.includes(cache)) fail(io, `Invalid cache option: ${cache}`);
  const rate = args.values.get('r');
  if (rate !== undefined && parseSize(rate) === undefined)
    fail(
      io,
      'Invalid rate limit specified. You may use k, M, G, T, P or E suffixes for\ndiskimg: kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.',
    );
  if (args.flags.has('image-opts')) fail(io, '--image-opts is not supported by diskimg commit');
  const base = args.values.get('b');
  // -b implies -d: an intermediate image is not emptied.
  const drop = args.flags.has('d') || base !== undefined;
  const quiet = args.flags.has('q');

  // Opened even if encrypted (allowLocked), to refuse that in words of its own below.
  const image: DiskImage = await openForCommand(io, file, { format: args.values.get('f'), allowLocked: true });
  const { layers } = image;
  await refuseChainInUse(io, image, file);
  let baseDepth = 1;
  try {
    if (base !== undefined) {
      baseDepth = findBase(layers, base);
      if (baseDepth < 0) fail(io, `Did not find '${base}' in the backing chain of '${file}'`);
    } else if (layers.length < 2) fail(io, 'Image does not have a backing file');
    const top = layers[0];
    if (!(top instanceof Qcow2Layer)) fail(io, `diskimg commits qcow2 overlays, not ${top.format}`);
    for (const layer of layers.slice(0, baseDepth + 1))
      if (layer instanceof Qcow2Layer && layer.encryption)
        fail(io, `'${layer.storage.name}' is encrypted: committing encrypted images is not supported by diskimg yet`);
    // What would stop the overlay from being emptied is said before the backing file is written.
    if (!drop) await explain(io, 'Could not empty the image', async () => refuseUnwritable(top.header, file));
    const progress = progressPrinter(io, args.flags.has('p') && !quiet);
    const baseFile = await explain(io, 'Could not open the backing file for writing', () =>
      NodeWritableFile.open(layers[baseDepth].storage.name),
    );
    try {
      await explain(io, 'Could not commit the image', async () => {
        const target = await openTarget(io, layers[baseDepth], baseFile, image.virtualSize);
        await commitToBase(image, baseDepth, target, (done, total) => progress.update(done, total));
        await baseFile.sync();
      });
    } finally {
      await baseFile.close();
    }
    if (!drop) {
      const topFile = await explain(io, 'Could not open the image for writing', () => NodeWritableFile.open(file));
      try {
        await explain(io, 'Could not empty the image', () => makeEmpty(topFile, top.header));
      } finally {
        await topFile.close();
      }
    }
    progress.end();
  } finally {
    await image.close();
  }
  if (!quiet) io.stdout('Image committed.\n');
  return 0;
}
