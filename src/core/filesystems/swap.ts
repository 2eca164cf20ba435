/** Linux swap: "SWAPSPACE2" (v1, with UUID and label at 1024) or "SWAP-SPACE" (v0) at the end of the first page. */
import { ascii, be32, cString, isZero, le32, uuidBE } from '../partitions/bytes.ts';
import type { ByteSource } from '../partitions/source.ts';
import type { FilesystemInfo } from '../partitions/types.ts';

const PAGE_SIZES = [4096, 8192, 16384, 32768, 65536];

export async function probeSwap(source: ByteSource): Promise<FilesystemInfo | null> {
  for (const page of PAGE_SIZES) {
    const magic = await source.read(page - 10, 10);
    if (!magic) return null;
    const text = ascii(magic, 0, 10);
    if (text === 'SWAP-SPACE') return { type: 'swap', version: '0' };
    if (text !== 'SWAPSPACE2') continue;
    const h = await source.read(1024, 44);
    if (!h) return null;
    const littleEndian = le32(h, 0) === 1;
    if (!littleEndian && be32(h, 0) !== 1) return null;
    const lastPage = littleEndian ? le32(h, 4) : be32(h, 4);
    if (lastPage === 0) return null;
    const info: FilesystemInfo = { type: 'swap', version: '1', size: (lastPage + 1) * page };
    const label = cString(h, 28, 16);
    if (label) info.label = label;
    if (!isZero(h, 12, 16)) info.uuid = uuidBE(h, 12);
    return info;
  }
  return null;
}
