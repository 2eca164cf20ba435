/**
 * Any disk image → any format written through a GuestWriter (VHD, VDI, …), seekable or not. Into
 * a seekable sink, the writer writes where it likes, as QEMU's driver does. Into a sink that can
 * only append (a download stream), the file's tables come before the data they describe, so this
 * takes two passes over the source, for every such format alike: the first runs the very same
 * conversion against a planning HostFile (metadata kept, the place of every data write noted);
 * the second emits the file in order, window by window, reading the data again. Both give the
 * same bytes.
 */
import type { DiskImage } from '../disk.ts';
import { DiskImgError } from '../errors.ts';
import type { OutputDriver } from '../formats/output/driver.ts';
import { HostFile, type Placement } from '../formats/output/host-file.ts';
import type { Sink } from '../sink.ts';
import { throwIfAborted, type ConvertOptions } from './convert.ts';
import { driveGuestWrites } from './convert-guest.ts';

/** The size qemu-img convert creates the output with: the source's, in whole sectors. */
export const createSize = (image: DiskImage): number => Math.ceil(image.virtualSize / 512) * 512;

/**
 * The smallest disk Azure takes from a VHD of `virtualSize` bytes: fixed, a whole number of MiB
 * (convert with `targetSize` this and -o subformat=fixed,force_size=on).
 */
export const azureVhdSize = (virtualSize: number): number => Math.ceil(virtualSize / (1024 * 1024)) * 1024 * 1024;

/**
 * The cluster size handed to the request planner: without compression it only sets a floor under
 * qemu-img's 2 MiB requests, and these formats have no cluster that raises it.
 */
const UNCOMPRESSED_UNIT = 512;

/**
 * `companions`: one seekable sink for each other file the output consists of (driver.companions),
 * in that order. `targetSize`: a larger disk than the source, its end reading as zeros (as
 * `qemu-img create` of that size then `qemu-img convert -n` into it).
 */
export async function convertToOutput<O>(
  image: DiskImage,
  sink: Sink,
  driver: OutputDriver<O>,
  options: O,
  convert: ConvertOptions = {},
  companions: Sink[] = [],
  targetSize?: number,
): Promise<void> {
  const size = Math.max(createSize(image), targetSize ?? 0);
  const names = driver.companions?.(options) ?? [];
  if (names.length > 0 && (!sink.truncate || companions.length !== names.length || companions.some((c) => !c.truncate))) {
    throw new DiskImgError(
      'usage',
      `This output is ${names.length + 1} files (${names.join(', ')} beside it): it needs a folder to write them into, not a download stream`,
      { field: 'subformat' },
    );
  }
  const clusterSize = driver.clusterSize?.(options) ?? UNCOMPRESSED_UNIT;
  if (sink.truncate || driver.streams?.(options)) {
    const writer = await driver.create!(
      HostFile.writing(sink),
      size,
      options,
      companions.map((c) => HostFile.writing(c)),
    );
    await driveGuestWrites(image, writer, { ...convert, clusterSize });
    return;
  }
  const total = image.virtualSize;
  const halves = (done: number, base: number) => convert.onProgress?.(Math.min(total, Math.floor((base + done) / 2)), total);
  const plan = HostFile.planning();
  const writer = await driver.create!(plan, size, options, []);
  await driveGuestWrites(image, writer, { ...convert, onProgress: (done) => halves(done, 0), clusterSize });
  await emitInOrder(image, sink, plan, convert, (done) => halves(done, total));
}

const WINDOW = 4 * 1024 * 1024;

/** The planned file, front to back: its metadata, with the guest data read again into place. */
async function emitInOrder(
  image: DiskImage,
  sink: Sink,
  plan: HostFile,
  convert: ConvertOptions,
  progress: (done: number) => void,
): Promise<void> {
  const placed: Placement[] = [...plan.placements].sort((a, b) => a.host - b.host);
  const length = plan.length;
  const total = image.virtualSize;
  let next = 0;
  for (let start = 0; start < length; start += WINDOW) {
    throwIfAborted(convert.signal);
    const end = Math.min(length, start + WINDOW);
    const window = plan.overlay!.read(start, end - start);
    // Placements never overlap: each host byte holds one guest byte. One may begin in an earlier window.
    while (next < placed.length && placed[next].host + placed[next].length <= start) next++;
    for (let i = next; i < placed.length && placed[i].host < end; i++) {
      const p = placed[i];
      const from = Math.max(start, p.host);
      const to = Math.min(end, p.host + p.length);
      const guest = p.guest + (from - p.host);
      const part = window.subarray(from - start, to - start);
      const readable = Math.max(0, Math.min(part.length, total - guest));
      await image.readInto(guest, part.subarray(0, readable));
      part.fill(0, readable);
    }
    await sink.write(start, window);
    progress(Math.floor((end / length) * total));
  }
}
