import type { DiskImage, OpenOptions } from '../../core/disk.ts';
import { nodeCrypto } from '../../node/crypto.ts';
import { isDiskImgError } from '../../core/errors.ts';
import { imageInfo } from '../../core/info.ts';
import { lockedLayers, openImage } from '../../core/open.ts';
import { detectPartitions, hasPartitionInfo, type PartitionReport } from '../../core/partitions/index.ts';
import { WithExtraFields, formatQemuJson } from '../../core/qemu-json.ts';
import { NodeFileStorage } from '../../node/file-storage.ts';
import { parseArgs } from '../args.ts';
import { nodeDecoders } from '../../node/decoders.ts';
import { type CliIO, OVA_DISK_OPTION, PROGRAM, backingResolver, openForCommand, outputFormat, ovaDiskOption, usage } from '../context.ts';
import { infoHuman, partitionsHuman } from '../format.ts';
import { SECRET_OPTIONS, Secrets, imageSpec } from '../secrets.ts';

export const infoHelp =
  'info [-f FMT] [--ova-disk N] [--output=human|json] [--backing-chain] [--backing FILE]... [--object secret,...] [--image-opts] [-U] FILE';

export async function info(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv, {
    withValue: 'f',
    flags: 'Uh',
    long: {
      output: { key: 'output', value: true },
      'backing-chain': { key: 'chain', value: false },
      'force-share': { key: 'U', value: false },
      format: { key: 'f', value: true },
      backing: { key: 'backing', value: true },
      ...OVA_DISK_OPTION,
      ...SECRET_OPTIONS,
    },
  });
  const format = outputFormat(io, args.values.get('output'));
  if (args.positional.length !== 1) usage('Expecting one image file name');
  const chain = args.flags.has('chain');
  const spec = imageSpec(io, args, Secrets.fromArgs(io, args), args.positional[0], args.values.get('f'));
  // As qemu-img info (BDRV_O_NO_IO): encrypted images are described without their passphrase.
  const image = await openForCommand(io, spec.path, {
    format: spec.format,
    display: spec.display,
    noBacking: !chain,
    backing: args.all.get('backing'),
    allowLocked: true,
    ovaDisk: ovaDiskOption(args.values),
  });
  try {
    const infos = [];
    for (let depth = 0; depth < image.layers.length; depth++) {
      const layer = image.layers[depth];
      // As QEMU's bdrv_get_allocated_file_size: the image's file and the files it opened (VMDK extents).
      let actualSize: number | undefined = 0;
      for (const storage of [layer.storage, ...(layer.extraStorages ?? [])]) {
        actualSize =
          storage instanceof NodeFileStorage && actualSize !== undefined ? actualSize + (await storage.allocatedBytes()) : undefined;
      }
      infos.push(await imageInfo(image, { depth, actualSize }));
    }
    // An encrypted disk's partitions stay unread without its passphrase, silently: info describes it as qemu-img does.
    const locked = lockedLayers(image).length > 0;
    const partitions = locked
      ? null
      : await guestPartitions(io, image, spec.path, {
          format: spec.format,
          backing: args.all.get('backing'),
          passphrase: spec.passphrase,
          ovaDisk: ovaDiskOption(args.values),
        });
    if (format === 'json') {
      const top = partitions ? new WithExtraFields(infos[0], { partitions }) : infos[0];
      io.stdout(`${formatQemuJson(chain ? [top, ...infos.slice(1)] : top)}\n`);
    } else {
      io.stdout(infos.map(infoHuman).join('\n') + (partitions ? partitionsHuman(partitions) : ''));
    }
    return 0;
  } finally {
    await image.close();
  }
}

/**
 * The partition table of the disk as the guest sees it: through the whole backing chain, which
 * info without --backing-chain does not open, so it is opened here for the reading. Nothing when
 * no table or file system is found (the output stays qemu-img's), or when the disk cannot be read
 * (a missing backing file, an encrypted image): info still succeeds, as qemu-img's does.
 */
async function guestPartitions(
  io: CliIO,
  image: DiskImage,
  path: string,
  request: { format?: string; backing?: readonly string[]; passphrase?: OpenOptions['passphrase']; ovaDisk?: number },
): Promise<PartitionReport | null> {
  let disk = image;
  let opened: DiskImage | undefined;
  try {
    if (image.layers.at(-1)?.backingFilename !== undefined) {
      const storage = await NodeFileStorage.open(path);
      try {
        opened = disk = await openImage(storage, {
          format: request.format,
          resolveBacking: backingResolver(request.backing),
          decoders: await nodeDecoders(),
          passphrase: request.passphrase,
          crypto: nodeCrypto(),
          ovaDisk: request.ovaDisk,
        });
      } catch (error) {
        await storage.close();
        throw error;
      }
    }
    const report = await detectPartitions(disk);
    return hasPartitionInfo(report) ? report : null;
  } catch (error) {
    if (!isDiskImgError(error)) throw error;
    io.stderr(`${PROGRAM}: partitions not read: ${error.message}\n`);
    return null;
  } finally {
    await opened?.close();
  }
}
