/** VHDX, Hyper-V's format (MS-VHDX): the driver record (block/vhdx.c's vhdx_probe and vhdx_open). */
import { latin1 } from '../../bytes.ts';
import type { FormatDriver } from '../driver.ts';
import { VhdxLayer } from './layer.ts';

export const vhdxDriver: FormatDriver = {
  name: 'vhdx',
  title: 'VHDX (Hyper-V): dynamic, fixed and differencing, 512- and 4096-byte sectors; a log to replay is replayed in memory',
  extensions: ['vhdx'],
  probe(head) {
    return latin1(head.subarray(0, 8)) === 'vhdxfile' ? { score: 100 } : null;
  },
  async open(storage, { options }) {
    return VhdxLayer.open(storage, { forCheck: options.forCheck });
  },
};
