/** Parallels (Virtuozzo/OpenVZ ploop) images, as block/parallels.c reads them. */
import type { FormatDriver } from '../driver.ts';
import { isParallels } from './header.ts';
import { ParallelsLayer } from './layer.ts';

export const parallelsDriver: FormatDriver = {
  name: 'parallels',
  title: 'Parallels / Virtuozzo (ploop) disk',
  extensions: ['hdd', 'hds'],
  probe: (head) => (isParallels(head) ? { score: 100 } : null),
  open: (storage) => ParallelsLayer.open(storage),
};
