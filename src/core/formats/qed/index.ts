/** QED, the QEMU Enhanced Disk format (qemu's block/qed.c): backing files, zero clusters. */
import type { FormatDriver } from '../driver.ts';
import { QED_MAGIC } from './header.ts';
import { QedLayer } from './layer.ts';

export const qedDriver: FormatDriver = {
  name: 'qed',
  title: 'QED (QEMU Enhanced Disk): backing files, zero clusters',
  extensions: ['qed'],
  probe(head) {
    if (head.length < 64) return null;
    return new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(0, true) === QED_MAGIC ? { score: 100 } : null;
  },
  open(storage) {
    return QedLayer.open(storage);
  },
};
