/**
 * VHD seeds, made by qemu-img and qemu-io: dynamic (empty, and one block written in part and
 * zero-written), fixed (with and without force_size). qemu always uses 2 MiB blocks, so a seed
 * with a block is a little over 2 MiB. The differencing seed is SYNTHETIC (no tool here makes
 * one): a qemu-made dynamic disk given disk type 4 and a W2ru parent locator, for the fuzzer to
 * reach the locator and bitmap code.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { vhdChecksum } from '../../support/vpc.ts';
import { qemuImg, qemuIo, type RecipeBook } from './tools.ts';

export const vpcRecipes: RecipeBook = {
  url: import.meta.url,
  tools: ['qemu-img', 'qemu-io'],
  recipes: {
    'empty-dynamic.vhd': (f) => qemuImg('create', '-q', '-f', 'vpc', f, '64M'),
    'dynamic.vhd': (f) => {
      qemuImg('create', '-q', '-f', 'vpc', f, '6M');
      qemuIo('vpc', f, 'write -P 1 4k 8k', 'write -z 64k 4k');
    },
    'fixed.vhd': (f) => {
      qemuImg('create', '-q', '-f', 'vpc', '-o', 'subformat=fixed', f, '256k');
      qemuIo('vpc', f, 'write -P 2 0 4k');
    },
    'fixed-force.vhd': (f) => {
      qemuImg('create', '-q', '-f', 'vpc', '-o', 'subformat=fixed,force_size=on', f, '100k');
      qemuIo('vpc', f, 'write -P 3 512 1k');
    },
    'differencing.vhd': (f) => {
      qemuImg('create', '-q', '-f', 'vpc', '-o', 'force_size=on', f, '1M');
      qemuIo('vpc', f, 'write -P 4 0 4k');
      const old = readFileSync(f);
      const locator = Buffer.alloc(512);
      const path = Buffer.from('.\\base.raw', 'utf16le');
      path.copy(locator);
      const bytes = Buffer.concat([old.subarray(0, old.length - 512), locator, old.subarray(old.length - 512)]);
      bytes.writeUInt32BE(4, 60);
      vhdChecksum(bytes, 0, 512, 64);
      bytes.copy(bytes, bytes.length - 512, 0, 512);
      bytes.write('W2ru', 512 + 576, 'latin1');
      bytes.writeUInt32BE(1, 512 + 580);
      bytes.writeUInt32BE(path.length, 512 + 584);
      bytes.writeBigUInt64BE(BigInt(old.length - 512), 512 + 592);
      vhdChecksum(bytes, 512, 1024, 36);
      const block0 = bytes.readUInt32BE(1536) * 512;
      bytes.fill(0, block0, block0 + 512);
      bytes[block0] = 0xf0;
      writeFileSync(f, bytes);
    },
  },
};
