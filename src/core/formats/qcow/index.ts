/** qcow version 1, QEMU's first copy-on-write format (qemu's block/qcow.c). */
import type { FormatDriver } from '../driver.ts';
import { QCOW_MAGIC } from './header.ts';
import { QcowLayer } from './layer.ts';

export const qcowDriver: FormatDriver = {
  name: 'qcow',
  title: 'qcow (version 1): compressed clusters, backing files, legacy AES encryption',
  extensions: ['qcow'],
  probe(head) {
    if (head.length < 8) return null;
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    return view.getUint32(0) === QCOW_MAGIC && view.getUint32(4) === 1 ? { score: 100 } : null;
  },
  open(storage, { options }) {
    return QcowLayer.open(storage, options.decoders);
  },
};
