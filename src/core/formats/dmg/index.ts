/** Apple disk images (UDIF .dmg), as block/dmg.c reads them. */
import type { FormatDriver } from '../driver.ts';
import { DmgLayer } from './layer.ts';
import { findKoly } from './tables.ts';

export const dmgDriver: FormatDriver = {
  name: 'dmg',
  title: 'Apple disk image (UDIF .dmg: zlib, bzip2, raw and zero chunks)',
  extensions: ['dmg'],
  // dmg_probe scores 2 for a name ending in ".dmg", whatever the content; we also want the UDIF
  // trailer, so a raw disk or an ISO named *.dmg (no "koly") stays raw.
  async probe(_head, storage) {
    const name = storage.name;
    if (name.length <= 4 || !name.endsWith('.dmg')) return null;
    return (await findKoly(storage)) === null ? null : { score: 2 };
  },
  open: (storage) => DmgLayer.open(storage),
};
