import type { DiskImage } from '../../core/disk.ts';
import { isDiskImgError } from '../../core/errors.ts';
import { refuseUnwritable } from '../../core/formats/qcow2/guest-writer.ts';
import { Qcow2Layer } from '../../core/formats/qcow2/layer.ts';
import { copyDifferences, headerWithBacking, refuseHeaderRewrite } from '../../core/formats/qcow2/rebase.ts';
import { openImage } from '../../core/open.ts';
import { combinePath } from '../../core/paths.ts';
import { nodeCrypto } from '../../node/crypto.ts';
import { nodeDecoders } from '../../node/decoders.ts';
import { NodeFileStorage } from '../../node/file-storage.ts';
import { NodeWritableFile } from '../../node/writable-file.ts';
import { parseArgs } from '../args.ts';
import { absolutePath, backingResolver, type CliIO, explain, fail, openForCommand, refuseChainInUse, usage } from '../context.ts';
import { progressPrinter } from '../progress.ts';
import { CACHE_MODES } from './commit.ts';

export const rebaseHelp =
  'rebase [-f FMT] [-t CACHE] [-T SRC_CACHE] [-p] [-q] [-U] [-u] -b BACKING [-F BACKING_FMT] FILE   (changes FILE in place, qcow2 overlays)';

/** Opens a chain as the new or old backing file, failing in qemu-img's words. */
async function openChain(io: CliIO, path: string, format: string | undefined, what: string): Promise<DiskImage> {
  let storage: NodeFileStorage | undefined;
  try {
    storage = await NodeFileStorage.open(path);
    const chain = await openImage(storage, {
      format,
      resolveBacking: backingResolver(),
      decoders: await nodeDecoders(),
      crypto: nodeCrypto(),
      allowLocked: true,
    });
    return chain;
  } catch (error) {
    await storage?.close();
    if (isDiskImgError(error)) fail(io, `${what}: ${error.message}`);
    throw error;
  }
}

/** qemu-img rebase: a qcow2 overlay moved onto another backing file (or none), in place. */
export async function rebase(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv, {
    withValue: 'fFbtT',
    flags: 'upqUh',
    long: {
      'image-opts': { key: 'image-opts', value: false },
      object: { key: 'object', value: true },
      'force-share': { key: 'U', value: false },
    },
  });
  const unsafe = args.flags.has('u');
  const quiet = args.flags.has('q');
  const backing = args.values.get('b');
  const backingFormat = args.values.get('F');
  if (args.positional.length !== 1) usage('Expecting one image file name');
  if (backing === undefined) usage('Must specify backing file (-b) or use unsafe mode (-u)');
  const [file] = args.positional;
  const cache = args.values.get('t') ?? 'writeback';
  if (!CACHE_MODES.includes(cache)) fail(io, `Invalid cache option: ${cache}`);
  const sourceCache = args.values.get('T') ?? 'writeback';
  if (!CACHE_MODES.includes(sourceCache)) fail(io, `Invalid source cache option: ${sourceCache}`);
  if (args.flags.has('image-opts')) fail(io, '--image-opts is not supported by diskimg rebase');

  // Unsafe mode opens the image alone; safe mode with its chain (qemu-img: BDRV_O_NO_BACKING for -u).
  // Opened even if encrypted (allowLocked), to refuse that in words of its own below.
  const image = await openForCommand(io, file, { format: args.values.get('f'), noBacking: unsafe, allowLocked: true });
  await refuseChainInUse(io, image, file);
  let newChain: DiskImage | undefined;
  let oldChain: DiskImage | undefined;
  try {
    const top = image.layers[0];
    if (!(top instanceof Qcow2Layer)) fail(io, `diskimg rebases qcow2 overlays, not ${top.format}`);
    await explain(io, 'Could not change the backing file', async () => {
      refuseUnwritable(top.header, file);
      refuseHeaderRewrite(top.header, top.extensions);
    });
    const format = backingFormat;
    if (!unsafe) {
      if (top.backingFilename !== undefined)
        oldChain = await openChain(io, combinePath(file, top.backingFilename), top.backingFormat, 'Could not open old backing file');
      if (backing !== '') {
        const path = combinePath(file, backing);
        // A file already below the overlay is read as the chain reads it (qemu-img's prefix_chain_bs), whatever -F says.
        const inChain = image.layers.slice(1).find((layer) => absolutePath(layer.storage.name) === absolutePath(path));
        newChain = await openChain(io, path, inChain ? inChain.format : backingFormat, `Could not open new backing file '${backing}'`);
      }
    }
    const encrypted = [image, oldChain, newChain].some((chain) =>
      chain?.layers.some((layer) => layer instanceof Qcow2Layer && layer.encryption),
    );
    if (encrypted) fail(io, 'Rebasing encrypted images (or onto one) is not supported by diskimg yet');
    const noFormat = `Could not change the backing file to '${backing}': backing format must be specified`;
    if (unsafe && backing !== '' && format === undefined) fail(io, noFormat);
    const target = await explain(io, 'Could not open the image for writing', () => NodeWritableFile.open(file));
    try {
      const progress = progressPrinter(io, args.flags.has('p') && !quiet);
      await explain(io, `Could not change the backing file to '${backing}'`, async () => {
        if (!unsafe) await copyDifferences(target, top.header, image, oldChain, newChain, (done, total) => progress.update(done, total));
        // As qemu-img 7.2: without -F, the data is copied and then the header refused.
        if (backing !== '' && format === undefined) fail(io, noFormat);
        const header = headerWithBacking(top.header, top.extensions, backing === '' ? undefined : { name: backing, format });
        await target.write(0, header);
        await target.sync();
      });
      progress.end();
    } finally {
      await target.close();
    }
  } finally {
    await newChain?.close();
    await oldChain?.close();
    await image.close();
  }
  return 0;
}
