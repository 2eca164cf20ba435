/**
 * OVAs made with GNU tar from an .ovf written here and VMDKs made by qemu-img: each disk read in
 * place must convert to the bytes qemu-img converts the VMDK itself to, and map as it maps.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachedFixtures } from '../support/fixture-cache.ts';
import { mixedRaw, pattern } from './fixtures.ts';
import { diskimg, firstDifference, qemuImgOk } from './support.ts';
import { scratchDir } from '../support/qemu.ts';
import { ovf } from '../support/ovf.ts';

interface OvaFixtures {
  dir: string;
  disks: string[];
  ustar: string;
  gnu: string;
  sparse: string;
  noDiskSection: string;
}

function build(dir: string): OvaFixtures {
  const run = (command: string, ...args: string[]) => execFileSync(command, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  mixedRaw(join(dir, 'one.raw'), 3 * 1024 * 1024 + 512, 21);
  writeFileSync(join(dir, 'two.raw'), pattern('random', 1024 * 1024, 3));
  run('qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', 'one.raw', 'disk1.vmdk');
  run('qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', 'two.raw', 'disk2.vmdk');
  run('qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk', 'one.raw', 'sparse.vmdk');
  const capacity = (file: string) =>
    JSON.parse(execFileSync('qemu-img', ['info', '--output=json', join(dir, file)], { encoding: 'utf8' }))['virtual-size'] as number;
  const disks = [
    { file: 'disk1.vmdk', capacity: capacity('disk1.vmdk') },
    { file: 'disk2.vmdk', capacity: capacity('disk2.vmdk') },
  ];
  writeFileSync(join(dir, 'vm.ovf'), ovf(disks));
  run('tar', '--format=ustar', '-cf', 'vm.ova', 'vm.ovf', 'disk1.vmdk', 'disk2.vmdk');
  run('tar', '--format=gnu', '-cf', 'vm-gnu.ova', 'vm.ovf', 'disk1.vmdk', 'disk2.vmdk');
  writeFileSync(join(dir, 'sparse.ovf'), ovf([{ file: 'sparse.vmdk', capacity: capacity('sparse.vmdk') }]));
  run('tar', '--format=ustar', '-cf', 'sparse.ova', 'sparse.ovf', 'sparse.vmdk');
  writeFileSync(join(dir, 'files.ovf'), ovf(disks, { diskSection: false }));
  run('tar', '--format=ustar', '-cf', 'files.ova', 'files.ovf', 'disk1.vmdk', 'disk2.vmdk');
  return {
    dir,
    disks: [join(dir, 'disk1.vmdk'), join(dir, 'disk2.vmdk')],
    ustar: join(dir, 'vm.ova'),
    gnu: join(dir, 'vm-gnu.ova'),
    sparse: join(dir, 'sparse.ova'),
    noDiskSection: join(dir, 'files.ova'),
  };
}

let f: OvaFixtures;
let out: string;
beforeAll(() => {
  f = cachedFixtures('diskimg-ova', import.meta.url, build);
  out = scratchDir('diskimg-ova-');
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('an OVA', () => {
  it.each([
    ['ustar', 0],
    ['ustar', 1],
    ['gnu', 0],
    ['gnu', 1],
    ['noDiskSection', 1],
  ] as const)('%s archive: disk %i converts as qemu-img converts the VMDK itself', async (kind, disk) => {
    const ours = join(out, `${kind}-${disk}.raw`);
    const theirs = join(out, `${kind}-${disk}.qemu.raw`);
    qemuImgOk('convert', '-O', 'raw', f.disks[disk], theirs);
    const run = await diskimg('convert', '--ova-disk', String(disk), '-O', 'raw', f[kind], ours);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(firstDifference(ours, theirs)).toBeNull();
    // Map: compressed grains have no host offsets, so the map is the VMDK's own.
    expect((await diskimg('map', '--output=json', '--ova-disk', String(disk), f[kind])).stdout).toBe(
      qemuImgOk('map', '--output=json', f.disks[disk]),
    );
    expect((await diskimg('compare', '--ova-disk', String(disk), f[kind], theirs)).stdout).toBe('Images are identical.\n');
  });

  it('is described as its disk, with the VM and its disks', async () => {
    const info = JSON.parse((await diskimg('info', '--output=json', '--ova-disk', '1', f.ustar)).stdout);
    const vmdk = JSON.parse(qemuImgOk('info', '--output=json', f.disks[1]));
    expect(info).toMatchObject({ filename: f.ustar, format: 'vmdk', 'virtual-size': vmdk['virtual-size'], 'cluster-size': 65536 });
    expect(info['format-specific'].data).toMatchObject({ cid: vmdk['format-specific'].data.cid, 'create-type': 'streamOptimized' });
    expect(info['format-specific'].data.ova).toEqual({
      'vm-id': 'vm-1',
      'vm-name': 'web & db',
      disk: 1,
      disks: [
        {
          'disk-id': 'vmdisk1',
          filename: 'disk1.vmdk',
          'virtual-size': JSON.parse(qemuImgOk('info', '--output=json', f.disks[0]))['virtual-size'],
          format: 'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized',
        },
        {
          'disk-id': 'vmdisk2',
          filename: 'disk2.vmdk',
          'virtual-size': vmdk['virtual-size'],
          format: 'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized',
        },
      ],
    });
    expect((await diskimg('info', f.ustar)).stdout).toContain('    ova:\n        vm id: vm-1\n        disk: 0\n');
  });

  it('maps the data of a sparse VMDK inside it at its place in the archive', async () => {
    const theirs = JSON.parse(qemuImgOk('map', '--output=json', join(f.dir, 'sparse.vmdk'))) as Array<{ offset?: number }>;
    const ours = JSON.parse((await diskimg('map', '--output=json', f.sparse)).stdout) as Array<{ offset?: number }>;
    const member = 1024 + Math.ceil(readFileSync(join(f.dir, 'sparse.ovf')).length / 512) * 512;
    expect(ours).toEqual(theirs.map((e) => (e.offset === undefined ? e : { ...e, offset: e.offset + member })));
    const raw = join(out, 'sparse.raw');
    expect((await diskimg('convert', '-O', 'raw', f.sparse, raw)).code).toBe(0);
    expect(firstDifference(raw, join(f.dir, 'one.raw'))).toBeNull();
  });

  it('refuses a disk number it does not have', async () => {
    const run = await diskimg('info', '--ova-disk', '2', f.ustar);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`diskimg: Could not open '${f.ustar}': OVA: there is no disk 2; vm.ovf names 2 (--ova-disk 0 to 1)\n`);
    expect((await diskimg('info', '--ova-disk', 'x', f.ustar)).code).not.toBe(0);
  });
});
