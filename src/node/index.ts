/**
 * diskimg for Node (`import … from 'diskimg/node'`): everything the platform-free engine exports,
 * plus local files as Storage and Sink, Node's native zlib, OpenSSL's AES and PBKDF2, native
 * hashes, and compression on worker threads — what the `diskimg` command itself runs on.
 *
 * ```ts
 * const image = await openImageFile('disk.qcow2');            // backing files found beside it
 * const sink = await NodeFileSink.create('disk.raw');
 * await convertImage(image, sink, { outputFormat: 'raw' });
 * await sink.close();
 * await image.close();
 * ```
 *
 * @packageDocumentation
 * @module diskimg/node
 */
import { combinePath } from '../core/paths.ts';
import { openImage } from '../core/open.ts';
import type { DiskImage, OpenOptions } from '../core/disk.ts';
import type { Storage } from '../core/storage/storage.ts';
import { nodeCrypto } from './crypto.ts';
import { nodeDecoders } from './decoders.ts';
import { NodeFileStorage } from './file-storage.ts';

export * from '../core/index.ts';
export { NodeFileStorage } from './file-storage.ts';
export type { PageAlignedBuffers } from './aligned-buffers.ts';
export { NodeFileSink } from './file-sink.ts';
export { nodeDecoders } from './decoders.ts';
export { nodeCrypto } from './crypto.ts';
export { nodeHashers } from './hashers.ts';
export { NodeCompressorPool } from './compress-pool.ts';

/**
 * Finds backing files and the files an image names as its own as qemu-img does: a relative name
 * is relative to the folder of the image that names it.
 */
export const besideTheImage = (name: string, overlay: Storage): Promise<Storage> => NodeFileStorage.open(combinePath(overlay.name, name));

/**
 * Opens the image file at `path` read-only, as `diskimg info` opens it: the format probed (or
 * `options.format`), backing files found beside it, native zlib, zstd in WebAssembly and
 * native AES. Closing the image closes every file it opened.
 */
export async function openImageFile(path: string, options: OpenOptions = {}): Promise<DiskImage> {
  const storage = await NodeFileStorage.open(path);
  try {
    return await openImage(storage, { resolveBacking: besideTheImage, decoders: await nodeDecoders(), crypto: nodeCrypto(), ...options });
  } catch (error) {
    await storage.close();
    throw error;
  }
}
