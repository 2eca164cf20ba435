/** raw: the guest disk byte for byte. It scores 1, so it wins only when no other format does. */
import { latin1 } from '../../bytes.ts';
import type { FormatDriver } from '../driver.ts';
import { RawLayer } from './layer.ts';

export const rawDriver: FormatDriver = {
  name: 'raw',
  title: 'raw disk',
  extensions: ['img', 'raw', 'iso'],
  async probe(_head, storage) {
    // Volume descriptors start at sector 16 (32 KiB); ISO 9660 says CD001, UDF's recognition
    // sequence BEA01/NSR02/NSR03. qemu-img reads both as raw, and so do we.
    if (storage.size < 32768 + 2048) return { score: 1 };
    const vd = await storage.read(32768, 2048 * 3);
    for (let i = 0; i < 3; i++) {
      const id = latin1(vd.subarray(i * 2048 + 1, i * 2048 + 6));
      if (id === 'CD001') return { score: 1, content: 'iso9660' };
      if (id === 'BEA01' || id === 'NSR02' || id === 'NSR03') return { score: 1, content: 'udf' };
    }
    return { score: 1 };
  },
  async open(storage) {
    return new RawLayer(storage);
  },
};
