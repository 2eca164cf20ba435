/**
 * Every format diskimg knows, in one table (QEMU's list of BlockDrivers). Probing asks each
 * driver's probe and takes the best score; opening by name looks the driver up here; the CLI's
 * help and the page's picker list what is here.
 */
import { latin1 } from '../bytes.ts';
import type { FormatDriver } from './driver.ts';
import { qcow2Driver } from './qcow2/index.ts';
import { rawDriver } from './raw/index.ts';
import { vhdxDriver } from './vhdx/index.ts';

export type { FormatDriver, OpenContext, ProbeScore } from './driver.ts';

/** The formats read, in the order the help lists them. */
export const DRIVERS: readonly FormatDriver[] = [qcow2Driver, vhdxDriver, rawDriver];

/**
 * Formats QEMU has that are recognised but not read yet: probing names them instead of taking
 * their container bytes for a raw disk.
 */
export const UNREAD_FORMATS: ReadonlyArray<{ name: string; title: string; probe?: (head: Uint8Array) => boolean }> = [
  { name: 'qcow', title: 'qcow (version 1)', probe: (b) => be32(b, 0) === 0x514649fb && be32(b, 4) === 1 },
  { name: 'vmdk', title: 'VMDK', probe: (b) => ['KDMV', 'COWD'].includes(ascii(b, 0, 4)) || ascii(b, 0, 21) === '# Disk DescriptorFile' },
  { name: 'vpc', title: 'VHD (vpc)', probe: (b) => ascii(b, 0, 8) === 'conectix' },
  { name: 'vdi', title: 'VDI (VirtualBox)', probe: (b) => le32(b, 0x40) === 0xbeda107f },
  { name: 'qed', title: 'QED', probe: (b) => ascii(b, 0, 4) === 'QED\0' },
  { name: 'luks', title: 'LUKS-encrypted', probe: (b) => ascii(b, 0, 6) === 'LUKS\xba\xbe' },
  { name: 'parallels', title: 'Parallels' },
  { name: 'dmg', title: 'DMG' },
  { name: 'bochs', title: 'Bochs' },
  { name: 'cloop', title: 'cloop' },
];

export function findDriver(name: string): FormatDriver | undefined {
  return DRIVERS.find((driver) => driver.name === name);
}

const ascii = (bytes: Uint8Array, at: number, length: number) => latin1(bytes.subarray(at, at + length));
const be32 = (b: Uint8Array, at: number) => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
const le32 = (b: Uint8Array, at: number) => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
