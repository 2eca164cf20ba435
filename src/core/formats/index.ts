/**
 * Every format diskimg knows, in one table (QEMU's list of BlockDrivers). Probing asks each
 * driver's probe and takes the best score; opening by name looks the driver up here; the CLI's
 * help and the page's picker list what is here.
 */
import { bochsDriver } from './bochs/index.ts';
import { cloopDriver } from './cloop/index.ts';
import { dmgDriver } from './dmg/index.ts';
import type { FormatDriver } from './driver.ts';
import { luksDriver } from './luks/index.ts';
import { ovaDriver } from './ova/index.ts';
import { parallelsDriver } from './parallels/index.ts';
import { qcowDriver } from './qcow/index.ts';
import { qcow2Driver } from './qcow2/index.ts';
import { qedDriver } from './qed/index.ts';
import { rawDriver } from './raw/index.ts';
import { vdiDriver } from './vdi/index.ts';
import { vmdkDriver } from './vmdk/index.ts';
import { vpcDriver } from './vpc/index.ts';
import { vhdxDriver } from './vhdx/index.ts';

export type { FormatDriver, OpenContext, ProbeScore } from './driver.ts';

/** The formats read, in the order the help lists them. */
export const DRIVERS: readonly FormatDriver[] = [
  qcow2Driver,
  rawDriver,
  vmdkDriver,
  ovaDriver,
  vpcDriver,
  vhdxDriver,
  vdiDriver,
  qedDriver,
  qcowDriver,
  luksDriver,
  parallelsDriver,
  bochsDriver,
  cloopDriver,
  dmgDriver,
];

export function findDriver(name: string): FormatDriver | undefined {
  return DRIVERS.find((driver) => driver.name === name);
}
