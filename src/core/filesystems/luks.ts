/** LUKS 1 and 2 headers (cryptsetup): magic, version, UUID and, for LUKS2, the label. */
import { ascii, be16, cString } from '../partitions/bytes.ts';
import type { ByteSource } from '../partitions/source.ts';
import type { FilesystemInfo } from '../partitions/types.ts';

const MAGIC = 'LUKS\xba\xbe';

export async function probeLuks(source: ByteSource): Promise<FilesystemInfo | null> {
  const h = await source.read(0, 512);
  if (!h || ascii(h, 0, 6) !== MAGIC) return null;
  const version = be16(h, 6);
  if (version !== 1 && version !== 2) return null;
  const info: FilesystemInfo = { type: 'crypto_LUKS', version: String(version) };
  const uuid = cString(h, 168, 40);
  if (uuid) info.uuid = uuid;
  if (version === 2) {
    const label = cString(h, 24, 48);
    if (label) info.label = label;
  }
  return info;
}
