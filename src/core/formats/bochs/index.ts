/** Bochs "growing" redolog images, as block/bochs.c reads them (qemu-img cannot make them). */
import type { FormatDriver } from '../driver.ts';
import { isBochs } from './header.ts';
import { BochsLayer } from './layer.ts';

export const bochsDriver: FormatDriver = {
  name: 'bochs',
  title: 'Bochs growing disk (bximage)',
  extensions: ['img'],
  // bochs_probe wants a whole 512-byte header: a shorter file is not probed as bochs.
  probe: (head, storage) => (storage.size >= 512 && isBochs(head) ? { score: 100 } : null),
  open: (storage) => BochsLayer.open(storage),
};
