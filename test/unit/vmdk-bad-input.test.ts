/**
 * Damaged VMDKs: real qemu-img images with one field or line made bad in a copy. Each refusal is
 * a DiskImgError of a stable kind naming the field; where qemu-img refuses the same file, our
 * message is its message.
 */
import { readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { checkImage } from '../../src/core/check.ts';
import { copy, open, patch, qemuImg, qemuImgError, readAll, scratchDir } from '../support/qemu.ts';
import { footerCopy, seSparseExtent } from '../interop/vmdk-fixtures.ts';
import { execFileSync } from 'node:child_process';

let dir: string;
let sparse: string;
let stream: string;
let flat: string;

const le32 = (n: number) => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];
const le64 = (n: number) => [...le32(n % 0x1_0000_0000), ...le32(Math.floor(n / 0x1_0000_0000))];
const gd0 = (file: string) => readFileSync(file).readUInt32LE(56) * 512;
const firstGt = (file: string) => readFileSync(file).readUInt32LE(gd0(file)) * 512;
const firstGte = (file: string) => readFileSync(file).readUInt32LE(firstGt(file)) * 512;

beforeAll(() => {
  dir = scratchDir('diskimg-vmdk-bad-');
  sparse = join(dir, 'sparse.vmdk');
  qemuImg('create', '-q', '-f', 'vmdk', sparse, '4M');
  execFileSync('qemu-io', ['-f', 'vmdk', '-c', 'write -P 1 0 64k', '-c', 'write -P 2 1M 4k', sparse], { stdio: 'ignore' });
  writeFileSync(join(dir, 'data.raw'), Buffer.alloc(256 * 1024, 0x41));
  stream = join(dir, 'stream.vmdk');
  qemuImg('convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', join(dir, 'data.raw'), stream);
  flat = join(dir, 'flat.vmdk');
  qemuImg('create', '-q', '-f', 'vmdk', '-o', 'subformat=monolithicFlat', flat, '1M');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Damage {
  what: string;
  /** Makes the damaged copy; returns its path. */
  make: (name: string) => string;
  kind: DiskImgError['kind'];
  field: string;
  /** qemu-img refuses the file with this same message. */
  sameAsQemu?: boolean;
  /** The open succeeds; reading the disk fails. */
  onRead?: boolean;
}

const patched = (from: () => string, patches: Array<[number | ((f: string) => number), number[]]>) => (name: string) => {
  const file = copy(from(), join(dir, name));
  for (const [at, bytes] of patches) patch(file, typeof at === 'number' ? at : at(file), bytes);
  return file;
};

const descriptor = (text: string) => (name: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};
const flatText = () => readFileSync(flat, 'latin1');

const damages: Damage[] = [
  { what: 'version 4', make: patched(() => sparse, [[4, le32(4)]]), kind: 'unsupported', field: 'version', sameAsQemu: true },
  {
    what: 'grain tables of 1024 entries',
    make: patched(() => sparse, [[44, le32(1024)]]),
    kind: 'limit',
    field: 'numGTEsPerGT',
    sameAsQemu: true,
  },
  {
    what: 'grain tables of no entries',
    make: patched(() => sparse, [[44, le32(0)]]),
    kind: 'invalid-format',
    field: 'grainSize',
    sameAsQemu: true,
  },
  { what: '2 GiB grains', make: patched(() => sparse, [[20, le64(0x400000)]]), kind: 'limit', field: 'grainSize', sameAsQemu: true },
  {
    what: 'first grain past the end of the file',
    make: patched(() => sparse, [[64, le64(0x100000)]]),
    kind: 'corrupt',
    field: 'overHead',
    sameAsQemu: true,
  },
  {
    what: 'a grain directory of more than 32 Mi entries',
    make: patched(() => sparse, [[12, le64(2 ** 45)]]),
    kind: 'limit',
    field: 'capacity',
    sameAsQemu: true,
  },
  {
    what: 'a truncated file',
    make: (name) => {
      const file = copy(sparse, join(dir, name));
      truncateSync(file, 2048);
      return file;
    },
    kind: 'corrupt',
    field: 'overHead',
    sameAsQemu: true,
  },
  {
    what: 'grain directory at the end, without a footer',
    make: patched(() => sparse, [[56, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]]]),
    kind: 'invalid-format',
    field: 'footer',
    sameAsQemu: true,
  },
  // QEMU opens it (and would divide by zero reading it): a granularity of 0 is refused here.
  {
    what: 'a COWD (VMDK3) file of granularity 0',
    make: patched(() => sparse, [[0, [0x43, 0x4f, 0x57, 0x44]]]),
    kind: 'invalid-format',
    field: 'granularity',
  },
  {
    what: 'a COWD (VMDK3) file of 2 GiB grains',
    make: patched(
      () => sparse,
      [
        [0, [0x43, 0x4f, 0x57, 0x44]],
        [16, le32(0x400000)],
      ],
    ),
    kind: 'limit',
    field: 'granularity',
    sameAsQemu: true,
  },
  {
    what: 'a descriptor without createType',
    make: descriptor('# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\nRW 2048 FLAT "flat-flat.vmdk" 0\n'),
    kind: 'invalid-format',
    field: 'createType',
    sameAsQemu: true,
  },
  {
    what: 'a descriptor file of type monolithicSparse',
    make: (n) => descriptor(flatText().replace('monolithicFlat', 'monolithicSparse'))(n),
    kind: 'unsupported',
    field: 'createType',
    sameAsQemu: true,
  },
  {
    what: 'a FLAT extent without its offset',
    make: (n) => descriptor(flatText().replace('"flat-flat.vmdk" 0', '"flat-flat.vmdk"'))(n),
    kind: 'invalid-format',
    field: 'extent line',
    sameAsQemu: true,
  },
  {
    what: 'a SPARSE extent with an offset',
    make: (n) => descriptor(flatText().replace('FLAT "flat-flat.vmdk" 0', 'SPARSE "flat-flat.vmdk" 0'))(n),
    kind: 'invalid-format',
    field: 'extent line',
    sameAsQemu: true,
  },
  {
    what: 'a missing extent file',
    make: (n) => descriptor(flatText().replace('flat-flat.vmdk', 'gone-flat.vmdk'))(n),
    kind: 'not-found',
    field: 'extent file',
  },
  {
    what: 'a SPARSE extent that is not a VMDK',
    make: (n) => descriptor(flatText().replace('FLAT "flat-flat.vmdk" 0', 'SPARSE "data.raw"'))(n),
    kind: 'invalid-format',
    field: 'magic',
    sameAsQemu: true,
  },
  {
    what: 'a descriptor without CID',
    make: (n) => descriptor(flatText().replace(/\n(parent)?CID=[0-9a-f]+/g, ''))(n),
    kind: 'invalid-format',
    field: 'CID',
  },
  {
    what: 'an unterminated parentFileNameHint',
    make: (n) => descriptor(`${flatText()}\nparentFileNameHint="base.vmdk`)(n),
    kind: 'invalid-format',
    field: 'parentFileNameHint',
  },
  {
    what: 'a compressed grain with a marker size of 0',
    make: patched(() => stream, [[(f) => firstGte(f) + 8, le32(0)]]),
    kind: 'corrupt',
    field: 'grain marker size',
    onRead: true,
  },
  {
    what: 'a compressed grain that does not inflate',
    make: patched(() => stream, [[(f) => firstGte(f) + 12, [0, 0, 0, 0]]]),
    kind: 'corrupt',
    field: 'compressed grain',
    onRead: true,
  },
  ...seSparseDamages(),
];

/** seSparse headers are checked strictly (QEMU's words): each field made bad in a copy. */
function seSparseDamages(): Damage[] {
  const make = (at: number, bytes: number[]) => (name: string) => {
    const extent = seSparseExtent();
    Buffer.from(bytes).copy(extent, at);
    writeFileSync(join(dir, `${name}-sesparse.vmdk`), extent);
    return descriptor(
      `# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\ncreateType="seSparse"\nRW 4096 SESPARSE "${name}-sesparse.vmdk"\n`,
    )(name);
  };
  return [
    { what: 'seSparse: bad const magic', make: make(0, [0xbf]), kind: 'invalid-format', field: 'magic', sameAsQemu: true },
    { what: 'seSparse: version 3', make: make(8, [3]), kind: 'unsupported', field: 'version', sameAsQemu: true },
    { what: 'seSparse: 8 KiB grains', make: make(24, [16]), kind: 'unsupported', field: 'grain_size', sameAsQemu: true },
    { what: 'seSparse: flags', make: make(40, [1]), kind: 'unsupported', field: 'flags', sameAsQemu: true },
    { what: 'seSparse: reserved bits', make: make(56, [1]), kind: 'unsupported', field: 'reserved', sameAsQemu: true },
    { what: 'seSparse: padding', make: make(300, [1]), kind: 'unsupported', field: 'pad', sameAsQemu: true },
    {
      what: 'seSparse: bad volatile magic',
      make: make(512, [0]),
      kind: 'invalid-format',
      field: 'volatile header magic',
      sameAsQemu: true,
    },
    { what: 'seSparse: journal to replay', make: make(512 + 24, [1]), kind: 'unsupported', field: 'replay_journal', sameAsQemu: true },
    {
      what: 'seSparse: a grain table entry of type 4',
      make: make(4 * 512 + 7, [0x40]),
      kind: 'corrupt',
      field: 'grain entry',
      onRead: true,
    },
  ];
}

describe('damaged VMDKs are refused with a clear error', () => {
  it.each(damages.map((d) => [d.what, d] as [string, Damage]))('%s', async (what, damage) => {
    const file = damage.make(`${what.replace(/\W+/g, '-')}.vmdk`);
    let caught: unknown;
    try {
      const image = await open(file);
      try {
        if (damage.onRead) await readAll(image);
      } finally {
        await image.close();
      }
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(DiskImgError);
    const error = caught as DiskImgError;
    expect(error.kind).toBe(damage.kind);
    expect(error.context.field).toBe(damage.field);
    if (damage.sameAsQemu) expect(qemuImgError('info', file)).toBe(`qemu-img: Could not open '${file}': ${error.message}\n`);
  });
});

describe('qemu-img check of a damaged VMDK', () => {
  it('reports a grain past the end of the file as qemu-img does', async () => {
    const file = patched(() => sparse, [[(f) => firstGt(f) + 4 * 16, le32(0x100000)]])('past-eof.vmdk');
    const image = await open(file);
    try {
      const result = await checkImage(image);
      expect(result.corruptions).toBe(1);
      let stderr = '';
      try {
        execFileSync('qemu-img', ['check', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (error) {
        stderr = String((error as { stderr: string }).stderr);
      }
      expect(stderr).toContain(result.messages[0]);
    } finally {
      await image.close();
    }
  });

  it('reads a VMware-style footer as qemu-img does', async () => {
    const file = join(dir, 'footer.vmdk');
    footerCopy(stream, file);
    const image = await open(file);
    try {
      expect(Buffer.from(await readAll(image)).equals(readFileSync(join(dir, 'data.raw')))).toBe(true);
    } finally {
      await image.close();
    }
  });
});
