/**
 * VHD images made by the real qemu-img and qemu-io: dynamic and fixed, force_size on and off,
 * sizes that are and are not a CHS geometry, guest writes (partial blocks, zero writes, the last
 * sector) and conversions of a mixed disk. Built once per version of this file (cachedFixtures).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { cachedFixtures } from '../support/fixture-cache.ts';
import { MiB, mixedRaw } from './fixtures.ts';

export interface VpcFixture {
  name: string;
  file: string;
  /** A fixed VHD: qemu-img probes it as raw; compare with `qemu-img -f vpc`. */
  fixed?: boolean;
  /** The top image's format, when not vpc (a qcow2 over a VHD); its chain is compared too. */
  top?: string;
  /** A huge sparse disk: raw conversions are compared with qemu-img compare, not byte by byte. */
  sparse?: boolean;
  /** Why qemu-img map's output may differ here, if it may. */
  mapDiffers?: string;
}

const HOLES =
  'fixed VHD: qemu-img asks the file system which parts of the file are holes (SEEK_DATA), which neither Node nor the browser can see';

function build(dir: string): VpcFixture[] {
  const f = (name: string) => join(dir, name);
  const run = (tool: string, ...args: string[]) => execFileSync(tool, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const io = (file: string, ...commands: string[]) => run('qemu-io', '-f', 'vpc', ...commands.flatMap((c) => ['-c', c]), file);
  const fixtures: VpcFixture[] = [];

  // qemu-img create then qemu-io writes: a block written in part, two blocks in one write, a zero
  // write (vpc has no zero clusters: it allocates and writes zeros), the disk's last sectors.
  const KiB = 1024;
  const writes = (size: number): string[] =>
    [
      ['-P 0x11', 0, 100 * KiB],
      ['-P 0x22', 3 * MiB, 4 * KiB],
      ['-z', 6 * MiB, MiB],
      ['-P 0x33', 7 * MiB, 2 * MiB],
      ['-P 0x44', 12 * MiB, 512],
      ['-P 0x55', size - 1024, 1024],
    ]
      .filter(([, at, length]) => (at as number) + (length as number) <= size)
      .map(([how, at, length]) => `write ${how} ${at} ${length}`);
  // 50 MiB is not a CHS geometry (qemu rounds it up to 52432896 bytes); 52432896 is one; so is
  // 1000448 bytes' rounding (1009664), and with force_size it stays 1000448.
  for (const size of [50 * MiB, 52432896, 1000448]) {
    for (const subformat of ['dynamic', 'fixed']) {
      for (const force of ['off', 'on']) {
        const name = `io-${subformat}-${size}-force${force}.vhd`;
        run('qemu-img', 'create', '-f', 'vpc', '-o', `subformat=${subformat},force_size=${force}`, f(name), String(size));
        const virtual = JSON.parse(execFileSync('qemu-img', ['info', '-f', 'vpc', '--output=json', f(name)], { encoding: 'utf8' }))[
          'virtual-size'
        ] as number;
        io(f(name), ...writes(virtual));
        fixtures.push({ name, file: f(name), fixed: subformat === 'fixed', mapDiffers: subformat === 'fixed' ? HOLES : undefined });
      }
    }
  }
  // An empty dynamic disk: every block unallocated.
  run('qemu-img', 'create', '-f', 'vpc', f('empty.vhd'), '100M');
  fixtures.push({ name: 'empty-dynamic', file: f('empty.vhd') });

  // A 1 TiB dynamic disk (half a million blocks), one block written in its middle.
  run('qemu-img', 'create', '-f', 'vpc', f('huge.vhd'), '1T');
  io(f('huge.vhd'), 'write -P 0x99 512G 4k');
  fixtures.push({ name: 'huge-dynamic', file: f('huge.vhd'), sparse: true });

  // Conversions of a disk of text, random and zero runs.
  const source = mixedRaw(f('source.raw'), 24 * MiB + 3 * 512, 11);
  for (const subformat of ['dynamic', 'fixed']) {
    for (const force of ['off', 'on']) {
      const name = `convert-${subformat}-force${force}.vhd`;
      run('qemu-img', 'convert', '-f', 'raw', '-O', 'vpc', '-o', `subformat=${subformat},force_size=${force}`, source, f(name));
      fixtures.push({ name, file: f(name), fixed: subformat === 'fixed', mapDiffers: subformat === 'fixed' ? HOLES : undefined });
    }
  }
  // A fixed disk with every byte written (-S 0): no holes, so map agrees too.
  run('qemu-img', 'convert', '-S', '0', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=fixed', source, f('convert-fixed-dense.vhd'));
  fixtures.push({ name: 'convert-fixed-dense.vhd', file: f('convert-fixed-dense.vhd'), fixed: true });

  // VHDs as backing files of qcow2 overlays.
  run('qemu-img', 'create', '-f', 'qcow2', '-b', 'io-dynamic-52428800-forceoff.vhd', '-F', 'vpc', f('over-dynamic.qcow2'));
  run('qemu-io', '-f', 'qcow2', '-c', 'write -P 0x66 1M 64k', '-c', 'write -z 7M 64k', f('over-dynamic.qcow2'));
  fixtures.push({ name: 'qcow2-over-dynamic', file: f('over-dynamic.qcow2'), top: 'qcow2' });
  run('qemu-img', 'create', '-f', 'qcow2', '-b', 'convert-fixed-dense.vhd', '-F', 'vpc', f('over-fixed.qcow2'));
  run('qemu-io', '-f', 'qcow2', '-c', 'write -P 0x77 2M 64k', f('over-fixed.qcow2'));
  fixtures.push({ name: 'qcow2-over-fixed', file: f('over-fixed.qcow2'), top: 'qcow2' });
  return fixtures;
}

let cached: VpcFixture[] | undefined;

export function vpcFixtures(): VpcFixture[] {
  return (cached ??= cachedFixtures('diskimg-vpc-fixtures', import.meta.url, build));
}
