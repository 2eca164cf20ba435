/** cloop V2.0 compressed images (Knoppix), as block/cloop.c reads them. */
import { latin1 } from '../../bytes.ts';
import type { FormatDriver } from '../driver.ts';
import { CloopLayer } from './layer.ts';

const PREAMBLE = '#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n';

export const cloopDriver: FormatDriver = {
  name: 'cloop',
  title: 'cloop compressed loop image (V2.0)',
  extensions: ['cloop'],
  // cloop_probe: the V2.0 preamble; it scores only 2 (raw scores 1).
  probe: (head) => (latin1(head.subarray(0, PREAMBLE.length)) === PREAMBLE ? { score: 2 } : null),
  open: (storage) => CloopLayer.open(storage),
};
