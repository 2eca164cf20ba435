/**
 * Differencing VHDs. No tool on this machine makes one (qemu-img writes only dynamic and fixed
 * VHDs, and reads a differencing one as if it were dynamic, without its parent; Debian has no
 * vhd-util, VirtualBox or Hyper-V), and QEMU's sample images hold none. So these images are
 * SYNTHETIC: a qemu-img-made dynamic VHD turned into a differencing one by hand (disk type 4, the
 * parent's UUID and name, one parent locator, a sector bitmap with clear bits). What they must
 * read as follows the VHD specification, and a second reader checks it: libvhdi (Debian's
 * python3-libvhdi), which reads the child over its parent to the same bytes as ours.
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VpcLayer } from '../../src/core/formats/vpc/layer.ts';
import { imageInfo } from '../../src/core/info.ts';
import { mapEntries } from '../../src/core/map.ts';
import { open, qemuImg, scratchDir } from '../support/qemu.ts';
import { vhdChecksum } from '../support/vpc.ts';

const MiB = 1024 * 1024;
let dir: string;

/** The child made differencing over parent.vhd, its locator `platform` holding `path` in `encoding`. */
function makeChild(name: string, platform: string, path: string, encoding: 'utf16le' | 'utf8'): string {
  const file = join(dir, name);
  qemuImg('create', '-q', '-f', 'vpc', '-o', 'force_size=on', file, '8M');
  execFileSync('qemu-io', ['-f', 'vpc', '-c', 'write -P 0xbb 0 4k', '-c', 'write -P 0xcc 2M 2M', file], { stdio: 'ignore' });
  const old = readFileSync(file);
  const parent = readFileSync(join(dir, 'parent.vhd'));
  const locator = Buffer.alloc(512);
  const pathBytes = Buffer.from(path, encoding);
  pathBytes.copy(locator);
  const bytes = Buffer.concat([old.subarray(0, old.length - 512), locator, old.subarray(old.length - 512)]);
  const locatorAt = old.length - 512;
  // Footer: disk type 4 (differencing), at the start and at the end.
  bytes.writeUInt32BE(4, 60);
  vhdChecksum(bytes, 0, 512, 64);
  bytes.copy(bytes, bytes.length - 512, 0, 512);
  // Dynamic header: parent UUID (the parent's footer UUID), parent name, one locator.
  parent.copy(bytes, 512 + 40, 68, 84);
  Buffer.from('parent.vhd', 'utf16le')
    .swap16()
    .copy(bytes, 512 + 64);
  bytes.write(platform, 512 + 576, 'latin1');
  bytes.writeUInt32BE(1, 512 + 580);
  bytes.writeUInt32BE(pathBytes.length, 512 + 584);
  bytes.writeBigUInt64BE(BigInt(locatorAt), 512 + 592);
  vhdChecksum(bytes, 512, 1024, 36);
  // Block 0's bitmap: only its first 8 sectors (4 KiB) are the child's.
  const block0 = bytes.readUInt32BE(1536) * 512;
  bytes.fill(0, block0, block0 + 512);
  bytes[block0] = 0xff;
  writeFileSync(file, bytes);
  return file;
}

/** libvhdi's reading of `child` over `parent`, written to `out`; its parent identifier. */
function libvhdi(child: string, parent: string, out: string): { parentUuid: string } {
  const script = [
    'import sys, pyvhdi',
    'c = pyvhdi.file(); c.open(sys.argv[1]); p = pyvhdi.file(); p.open(sys.argv[2]); c.set_parent(p)',
    'open(sys.argv[3], "wb").write(c.read_buffer_at_offset(c.get_media_size(), 0))',
    'print(c.get_parent_identifier())',
  ].join('\n');
  // Debian's python3: pyvhdi is a Debian package (python3-libvhdi), not in other Pythons on the PATH.
  const printed = execFileSync('/usr/bin/python3', ['-c', script, child, parent, out], { encoding: 'utf8' });
  return { parentUuid: printed.trim() };
}

beforeAll(() => {
  dir = scratchDir('diskimg-vpc-diff-');
  qemuImg('create', '-q', '-f', 'vpc', '-o', 'force_size=on', join(dir, 'parent.vhd'), '8M');
  execFileSync('qemu-io', ['-f', 'vpc', '-c', 'write -P 0xaa 0 8M', join(dir, 'parent.vhd')], { stdio: 'ignore' });
});

describe('a differencing VHD reads through to its parent (synthetic images)', () => {
  it("unallocated blocks and clear bitmap bits are the parent's", async () => {
    const image = await open(makeChild('w2ru.vhd', 'W2ru', '.\\parent.vhd', 'utf16le'));
    try {
      expect(image.layers.map((l) => l.backingFilename)).toEqual(['parent.vhd', undefined]);
      const disk = await image.read(0, 8 * MiB);
      const expected = Buffer.alloc(8 * MiB, 0xaa);
      expected.fill(0xbb, 0, 4096);
      expected.fill(0xcc, 2 * MiB, 4 * MiB);
      expect(Buffer.from(disk).equals(expected)).toBe(true);
      const entries = [];
      for await (const e of mapEntries(image)) entries.push([e.start, e.length, e.depth, e.data]);
      expect(entries).toEqual([
        [0, 4096, 0, true],
        [4096, 2 * MiB - 4096, 1, true],
        [2 * MiB, 2 * MiB, 0, true],
        // The parent's blocks are not contiguous in its file (a bitmap lies between): two entries.
        [4 * MiB, 2 * MiB, 1, true],
        [6 * MiB, 2 * MiB, 1, true],
      ]);
      const info = await imageInfo(image);
      expect(info['backing-filename']).toBe('parent.vhd');
      expect(info['cluster-size']).toBe(2 * MiB);
      // libvhdi reads the same disk, and finds the same parent UUID.
      const theirs = libvhdi(join(dir, 'w2ru.vhd'), join(dir, 'parent.vhd'), join(dir, 'w2ru.libvhdi.raw'));
      expect(theirs.parentUuid).toBe((image.layers[0] as VpcLayer).parentUuid);
      expect(statSync(join(dir, 'w2ru.libvhdi.raw')).size).toBe(8 * MiB);
      expect(readFileSync(join(dir, 'w2ru.libvhdi.raw')).equals(Buffer.from(disk))).toBe(true);
    } finally {
      await image.close();
    }
  });

  it('names its parent by a Mac OS X file URL or a Windows absolute path', async () => {
    const mac = await open(makeChild('macx.vhd', 'MacX', 'file://localhost/Users/me/VMs/my%20parent.vhd', 'utf8'), {
      format: 'vpc',
      noBacking: true,
    });
    expect(mac.layers[0].backingFilename).toBe('/Users/me/VMs/my parent.vhd');
    await mac.close();
    const win = await open(makeChild('w2ku.vhd', 'W2ku', 'C:\\VMs\\parent.vhd', 'utf16le'), { format: 'vpc', noBacking: true });
    expect(win.layers[0].backingFilename).toBe('C:\\VMs\\parent.vhd');
    await win.close();
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));
