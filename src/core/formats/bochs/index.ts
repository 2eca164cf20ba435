/** Bochs "growing" redolog images, as block/bochs.c reads them (qemu-img cannot make them). */
import type { FormatDriver } from '../driver.ts';
import { isBochs } from './header.ts';
import { BochsLayer } from './layer.ts';

export const bochsDriver: FormatDriver = {
  name: 'bochs',
  title: 'Bochs growing disk (bximage)',
  extensions: ['img'],
  probe: (head) => (isBochs(head) ? { score: 100 } : null),
  open: (storage) => BochsLayer.open(storage),
};
