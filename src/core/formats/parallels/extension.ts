/**
 * The Format Extension cluster (docs/interop/parallels.txt, block/parallels-ext.c): QEMU checks it
 * when it opens an image read-only, so a damaged one fails to open. Its magic, its MD5 checksum
 * and its feature headers are checked here in QEMU's words; the dirty bitmaps it may hold say
 * nothing of the disk's contents and are not read.
 */
import { hex } from '../../bytes.ts';
import { hashFunction } from '../../crypto/hash.ts';
import { DiskImgError } from '../../errors.ts';
import type { Storage } from '../../storage/storage.ts';

const EXTENSION_MAGIC = 0xab234cef23dcea87n;
const END_OF_FEATURES = 0n;
const DIRTY_BITMAP = 0x20385fae252cb34an;
const HEADER = 24;
const FEATURE_HEADER = 24;
/** A larger cluster's checksum is not verified (QEMU reads it whole; we do not read a huge cluster). */
const MAX_CHECKED = 16 << 20;

export async function checkExtension(storage: Storage, offset: number, clusterBytes: number): Promise<void> {
  const fail = (message: string): never => {
    throw new DiskImgError('corrupt', message, { file: storage.name, field: 'ext_off', offset });
  };
  const length = Math.min(clusterBytes, MAX_CHECKED);
  const cluster = await storage.read(offset, length);
  const view = new DataView(cluster.buffer, cluster.byteOffset, cluster.byteLength);
  const magic = view.getBigUint64(0, true);
  if (magic !== EXTENSION_MAGIC) fail(`Wrong parallels Format Extension magic: ${hex(magic)}, expected: ${hex(EXTENSION_MAGIC)}`);
  if (clusterBytes <= MAX_CHECKED) {
    const digest = hashFunction('md5')(cluster.subarray(HEADER));
    if (digest.some((b, i) => b !== cluster[8 + i])) fail('Wrong checksum in Format Extension header. Format extension is corrupted.');
  }
  let at = HEADER;
  for (;;) {
    const remaining = length - at;
    if (remaining < FEATURE_HEADER)
      fail(
        `Can not read feature header, as remaining bytes (${remaining}) in Format Extension is less than Feature header size (${FEATURE_HEADER})`,
      );
    const featureMagic = view.getBigUint64(at, true);
    const flags = view.getBigUint64(at + 8, true);
    const dataSize = view.getUint32(at + 16, true);
    at += FEATURE_HEADER;
    if (flags !== 0n) fail('Flags for extension feature are unsupported');
    const aligned = Math.ceil(dataSize / 8) * 8;
    if (aligned > length - at) fail('Feature data_size exceedes Format Extension cluster');
    if (featureMagic === END_OF_FEATURES) return;
    if (featureMagic !== DIRTY_BITMAP) fail(`Unknown feature: ${hex(featureMagic)}`);
    at += aligned;
  }
}
