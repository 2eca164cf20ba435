/** VDI, VirtualBox's disk format (qemu's block/vdi.c): static and dynamic images. */
import type { FormatDriver } from '../driver.ts';
import { VDI_SIGNATURE } from './header.ts';
import { VdiLayer } from './layer.ts';

export const vdiDriver: FormatDriver = {
  name: 'vdi',
  title: 'VDI (VirtualBox), static and dynamic',
  extensions: ['vdi'],
  probe(head) {
    if (head.length < 512) return null;
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    return view.getUint32(0x40, true) === VDI_SIGNATURE ? { score: 100 } : null;
  },
  open(storage) {
    return VdiLayer.open(storage);
  },
};
