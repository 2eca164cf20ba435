/**
 * VMDK images made by the real qemu-img and qemu-io: every subformat qemu-img writes, its create
 * options, partial and zero writes, zeroed grains, a >2 GiB split disk, snapshot chains, a qcow2
 * over a VMDK, and a streamOptimized file whose grain directory is found through its footer (as
 * VMware and VirtualBox write them). Built once per version of this file (see cachedFixtures).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedFixtures } from '../support/fixture-cache.ts';
import { MiB, mixedRaw, pattern, type Fixture } from './fixtures.ts';

export interface VmdkFixture extends Fixture {
  /** The raw disk qemu-img converted from, when the fixture is a straight conversion. */
  source?: string;
}

let cwd = '.';
const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
const qemuIo = (format: string, file: string, ...commands: string[]) =>
  execFileSync('qemu-io', ['-f', format, ...commands.flatMap((c) => ['-c', c]), file], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });

const HOLES = 'qemu-img asks the file system where a flat extent file has holes (lseek SEEK_DATA) and maps them as zeros';

/** Partial, unaligned and zero writes into a fresh image of `format`. */
const WRITES = ['write -P 5 0 64k', 'write -P 6 100k 3k', 'write -P 7 1M 512', 'write -z 2M 128k', 'write -z 70k 1k', 'write -P 8 3M 200k'];

/**
 * A streamOptimized file rewritten the way VMware writes the header: gdOffset = GD_AT_END in the
 * header, the real header in a footer (footer marker, header copy, end-of-stream marker) at the end.
 */
export function footerCopy(from: string, to: string): void {
  const bytes = readFileSync(from);
  const body = Buffer.concat([bytes, Buffer.alloc((512 - (bytes.length % 512)) % 512)]);
  const footer = Buffer.from(body.subarray(0, 512));
  body.writeBigUInt64LE(0xffffffffffffffffn, 56);
  const marker = Buffer.alloc(512);
  marker.writeUInt32LE(3, 12); // MARKER_FOOTER, size 0
  writeFileSync(to, Buffer.concat([body, marker, footer, Buffer.alloc(512)]));
}

/** A COWD file: header, a one-entry grain directory at sector 1, one grain table at sector 2, then grains. */
function cowdExtent(sectors: number, granularity: number, grains: Array<[number, number]>): Buffer {
  const first = 2 + 32;
  const head = Buffer.alloc(first * 512);
  head.write('COWD', 0, 'latin1');
  [1, 3, sectors, granularity, 1, 1, 0].forEach((value, i) => head.writeUInt32LE(value, 4 + i * 4));
  head.writeUInt32LE(2, 512);
  const data = grains.map(([index, fill], i) => {
    head.writeUInt32LE(first + i * granularity, 1024 + index * 4);
    return Buffer.alloc(granularity * 512, fill);
  });
  return Buffer.concat([head, ...data]);
}

/**
 * An seSparse extent (ESXi 6.5+; qemu-img reads, never writes it) of 2 MiB: const header, volatile
 * header at sector 1, a one-entry grain directory at sector 3, one grain table at 4, grains at 68.
 * Grains 0, 9 and 300 hold data, 5 is zero, 7 unmapped.
 */
export function seSparseExtent(): Buffer {
  const head = Buffer.alloc(68 * 512);
  const u64 = (at: number, value: bigint) => head.writeBigUInt64LE(value, at);
  [0xcafebaben, 0x200000001n, 4096n, 8n, 64n, 0n].forEach((value, i) => u64(i * 8, value));
  [1n, 1n, 0n, 0n, 0n, 0n, 3n, 1n, 4n, 64n, 0n, 0n, 0n, 0n, 68n, 16n].forEach((value, i) => u64(80 + i * 8, value));
  [0xcafecafen, 1n, 1n, 0n].forEach((value, i) => u64(512 + i * 8, value));
  u64(3 * 512, 0x1000000000000000n);
  const allocated = (c: bigint) => (3n << 60n) | ((c & 0xfffn) << 48n) | (c >> 12n);
  const entries: Array<[number, bigint]> = [
    [0, allocated(0n)],
    [9, allocated(1n)],
    [300, allocated(2n)],
    [5, 0x2000000000000000n],
    [7, 0x1000000000000000n],
  ];
  for (const [grain, entry] of entries) u64(4 * 512 + grain * 8, entry);
  return Buffer.concat([head, Buffer.alloc(4096, 0x11), Buffer.alloc(4096, 0x22), Buffer.alloc(4096, 0x33)]);
}

function build(dir: string): VmdkFixture[] {
  cwd = dir;
  const f = (name: string) => join(dir, name);
  const fixtures: VmdkFixture[] = [];
  const source = mixedRaw(f('source.raw'), 5 * MiB + 3 * 512, 11);
  writeFileSync(f('random.raw'), pattern('random', 3 * MiB, 5));

  for (const subformat of ['monolithicSparse', 'streamOptimized', 'twoGbMaxExtentSparse', 'monolithicFlat', 'twoGbMaxExtentFlat']) {
    const name = `convert-${subformat}.vmdk`;
    qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', `subformat=${subformat}`, source, f(name));
    fixtures.push({ name, file: f(name), source, mapDiffers: subformat.endsWith('Flat') ? HOLES : undefined });
  }
  // A flat extent of random bytes has no holes: there map must agree too.
  qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicFlat', f('random.raw'), f('random-monolithicFlat.vmdk'));
  fixtures.push({ name: 'random-monolithicFlat.vmdk', file: f('random-monolithicFlat.vmdk'), source: f('random.raw') });
  qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=twoGbMaxExtentFlat', f('random.raw'), f('random-twoGbMaxExtentFlat.vmdk'));
  fixtures.push({ name: 'random-twoGbMaxExtentFlat.vmdk', file: f('random-twoGbMaxExtentFlat.vmdk'), source: f('random.raw') });

  footerCopy(f('convert-streamOptimized.vmdk'), f('footer-streamOptimized.vmdk'));
  fixtures.push({ name: 'footer-streamOptimized.vmdk', file: f('footer-streamOptimized.vmdk') });

  // A VMDK3 (COWD, ESX 2) sparse extent behind a vmfsSparse descriptor: qemu-img reads these but
  // cannot write them, so this one is made by hand — 8 KiB grains, four of them written.
  writeFileSync(
    f('vmfsSparse-delta.vmdk'),
    cowdExtent(4096, 16, [
      [0, 0x11],
      [5, 0x22],
      [200, 0x33],
      [3, 0x44],
    ]),
  );
  writeFileSync(
    f('vmfsSparse.vmdk'),
    '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="vmfsSparse"\n\n# Extent description\nRW 4096 VMFSSPARSE "vmfsSparse-delta.vmdk"\n\n# The Disk Data Base\n#DDB\n',
  );
  fixtures.push({ name: 'vmfsSparse.vmdk', file: f('vmfsSparse.vmdk') });

  writeFileSync(f('seSparse-sesparse.vmdk'), seSparseExtent());
  writeFileSync(
    f('seSparse.vmdk'),
    '# Disk DescriptorFile\nversion=1\nCID=abcdef01\nparentCID=ffffffff\ncreateType="seSparse"\n\n# Extent description\nRW 4096 SESPARSE "seSparse-sesparse.vmdk"\n\n# The Disk Data Base\n#DDB\n',
  );
  fixtures.push({ name: 'seSparse.vmdk', file: f('seSparse.vmdk') });

  // Create options: they change the descriptor's DDB and header version, never the data.
  const options = [
    'adapter_type=ide',
    'adapter_type=buslogic',
    'adapter_type=lsilogic',
    'adapter_type=legacyESX',
    'compat6=on',
    'hwversion=6',
    'hwversion=undefined',
    'toolsversion=11333',
  ];
  for (const [i, option] of options.entries()) {
    const subformat = i % 2 === 0 ? 'monolithicSparse' : 'twoGbMaxExtentSparse';
    const name = `create-${option.replace('=', '-')}-${subformat}.vmdk`;
    qemuImg('create', '-q', '-f', 'vmdk', '-o', `${option},subformat=${subformat}`, f(name), '4M');
    qemuIo('vmdk', f(name), ...WRITES);
    fixtures.push({ name, file: f(name) });
  }
  for (const zeroed of ['on', 'off']) {
    const name = `writes-zeroed_grain-${zeroed}.vmdk`;
    qemuImg('create', '-q', '-f', 'vmdk', '-o', `zeroed_grain=${zeroed}`, f(name), '4M');
    qemuIo('vmdk', f(name), ...WRITES, 'write -z 0 64k');
    fixtures.push({ name, file: f(name) });
  }
  for (const subformat of ['monolithicFlat', 'twoGbMaxExtentFlat']) {
    const name = `writes-${subformat}.vmdk`;
    qemuImg('create', '-q', '-f', 'vmdk', '-o', `subformat=${subformat}`, f(name), '4M');
    qemuIo('vmdk', f(name), ...WRITES);
    fixtures.push({ name, file: f(name), mapDiffers: HOLES });
  }

  // More than 2 GiB: twoGbMaxExtentSparse splits into three extents (sparse, tiny on disk).
  qemuImg('create', '-q', '-f', 'vmdk', '-o', 'subformat=twoGbMaxExtentSparse', f('big-twoGbMaxExtentSparse.vmdk'), '5G');
  qemuIo('vmdk', f('big-twoGbMaxExtentSparse.vmdk'), 'write -P 1 0 64k', 'write -P 2 2047M 2M', 'write -P 3 4G 4k', 'write -P 4 5119M 1M');
  fixtures.push({ name: 'big-twoGbMaxExtentSparse.vmdk', file: f('big-twoGbMaxExtentSparse.vmdk'), sparse: true });

  // Snapshot children: parentFileNameHint, two levels, and a qcow2 over a VMDK.
  qemuImg('convert', '-f', 'raw', '-O', 'vmdk', source, f('base.vmdk'));
  qemuImg('create', '-q', '-f', 'vmdk', '-b', 'base.vmdk', '-F', 'vmdk', f('child.vmdk'));
  qemuIo('vmdk', f('child.vmdk'), 'write -P 9 64k 64k', 'write -P 8 200k 1k', 'write -z 1M 64k');
  fixtures.push({ name: 'child.vmdk', file: f('child.vmdk'), chain: true });
  qemuImg('create', '-q', '-f', 'vmdk', '-o', 'zeroed_grain=on', '-b', 'child.vmdk', '-F', 'vmdk', f('grandchild.vmdk'));
  qemuIo('vmdk', f('grandchild.vmdk'), 'write -P 4 0 4k', 'write -z 2M 128k');
  fixtures.push({ name: 'grandchild.vmdk', file: f('grandchild.vmdk'), chain: true });
  qemuImg('create', '-q', '-f', 'vmdk', '-o', 'subformat=twoGbMaxExtentSparse', '-b', 'base.vmdk', '-F', 'vmdk', f('split-child.vmdk'));
  qemuIo('vmdk', f('split-child.vmdk'), 'write -P 3 0 8k', 'write -z 4M 64k');
  fixtures.push({ name: 'split-child.vmdk', file: f('split-child.vmdk'), chain: true });
  qemuImg('create', '-q', '-f', 'qcow2', '-b', 'child.vmdk', '-F', 'vmdk', f('over-vmdk.qcow2'));
  qemuIo('qcow2', f('over-vmdk.qcow2'), 'write -P 3 0 4k', 'write -z 3M 64k');
  fixtures.push({ name: 'over-vmdk.qcow2', file: f('over-vmdk.qcow2'), chain: true });
  return fixtures;
}

let cached: VmdkFixture[] | undefined;

export function vmdkFixtures(): VmdkFixture[] {
  return (cached ??= cachedFixtures('diskimg-vmdk', import.meta.url, build));
}
