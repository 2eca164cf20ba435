/**
 * diskimg as a library, in Node: `node dist/info.js IMAGE [OUT.qcow2]`.
 * - a disk image: qemu-img info's facts, the first sector, and (with OUT.qcow2) the image
 *   converted to qcow2 through a sink that can only append, as a download stream is;
 * - an ISO: its label and its root folder.
 */
import { openAsBlob } from 'node:fs';
import { open } from 'node:fs/promises';
import { BlobStorage, convertImage, Disc, discInfo, openImage, type Sink } from 'diskimg';
import { imageInfo, NodeFileStorage, openImageFile } from 'diskimg/node';

const [path, out] = process.argv.slice(2);
if (!path) {
  console.error('usage: node dist/info.js IMAGE [OUT.qcow2]');
  process.exit(2);
}

async function listDisc(): Promise<boolean> {
  const storage = await NodeFileStorage.open(path);
  try {
    const disc = await Disc.open(storage);
    console.log(`disc: ${discInfo(disc)['volume-id'] ?? ''}`);
    for (const entry of await disc.tree.list(await disc.resolve('/'))) console.log(`  ${entry.type === 'dir' ? 'd' : '-'} ${entry.name}`);
    return true;
  } catch {
    return false; // not a disc image
  } finally {
    await storage.close();
  }
}

/** Appends only, as a browser download stream does: the engine then writes qcow2 in two passes. */
async function appendOnlyFile(file: string): Promise<Sink> {
  const handle = await open(file, 'w');
  let position = 0;
  return {
    async write(offset, bytes) {
      if (offset !== position) throw new Error(`write at ${offset}, expected ${position}`);
      await handle.write(bytes);
      position += bytes.length;
    },
    close: () => handle.close(),
  };
}

if (!(await listDisc())) {
  const image = await openImageFile(path);
  const info = await imageInfo(image);
  console.log(`format: ${info.format}`);
  console.log(`virtual size: ${info['virtual-size']}`);
  const sector = await image.read(0, 512);
  console.log(
    `first sector: ${Buffer.from(sector.subarray(0, 16)).toString('hex')}… ends ${Buffer.from(sector.subarray(510)).toString('hex')}`,
  );
  await image.close();

  if (out) {
    // The platform-free entry over a Blob, exactly as a web page would give it a File.
    const blobImage = await openImage(new BlobStorage(await openAsBlob(path), path));
    const sink = await appendOnlyFile(out);
    await convertImage(blobImage, sink, { outputFormat: 'qcow2' });
    await sink.close();
    await blobImage.close();
    console.log(`converted to ${out}`);
  }
}
