/** Parallels (Virtuozzo/OpenVZ ploop) images, as block/parallels.c reads them. */
import type { FormatDriver } from '../driver.ts';
import { isParallels } from './header.ts';
import { ParallelsLayer } from './layer.ts';

export const parallelsDriver: FormatDriver = {
  name: 'parallels',
  title: 'Parallels / Virtuozzo (ploop) disk',
  extensions: ['hdd', 'hds'],
  // parallels_probe wants the whole 64-byte header.
  probe: (head, storage) => (storage.size >= 64 && isParallels(head) ? { score: 100 } : null),
  open: (storage) => ParallelsLayer.open(storage),
};
