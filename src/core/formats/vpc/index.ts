/**
 * VHD, qemu's "vpc" (Connectix / Microsoft Virtual PC, Hyper-V): the driver record (block/vpc.c's
 * vpc_probe and vpc_open).
 *
 * qemu's probe looks for the footer's cookie at the start only, so it calls a fixed VHD (whose
 * footer is only at the end) raw, and reads the footer as the guest's last sector. We also
 * recognise a fixed VHD by its footer — cookie, checksum, disk type 2, current size matching the
 * file — and read it as vpc; `-f raw` still reads it as raw, footer included, as qemu does.
 */
import type { FormatDriver } from '../driver.ts';
import { FOOTER_SIZE, hasCookie, isFixedFooter } from './footer.ts';
import { VpcLayer } from './layer.ts';

export const vpcDriver: FormatDriver = {
  name: 'vpc',
  title: 'VHD (Virtual PC, Hyper-V): fixed, dynamic and differencing',
  extensions: ['vhd', 'vpc'],
  async probe(head, storage) {
    if (hasCookie(head)) return { score: 100 };
    if (storage.size < FOOTER_SIZE) return null;
    return isFixedFooter(await storage.read(storage.size - FOOTER_SIZE, FOOTER_SIZE), storage.size) ? { score: 100 } : null;
  },
  async open(storage) {
    return VpcLayer.open(storage);
  },
};
