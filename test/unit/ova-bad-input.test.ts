/**
 * Damaged OVAs: archives made by GNU tar from an OVF written here and a qemu-img VMDK, then made
 * bad. Each refusal is a DiskImgError of a stable kind naming the field.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { probeFormat } from '../../src/core/open.ts';
import { NodeFileStorage } from '../../src/node/file-storage.ts';
import { open, patch, qemuImg, scratchDir } from '../support/qemu.ts';
import { ovf } from '../support/ovf.ts';

let dir: string;
let good: string;

const tar = (name: string, ...members: string[]) => {
  execFileSync('tar', ['--format=ustar', '-cf', name, ...members], { cwd: dir, stdio: 'ignore' });
  return join(dir, name);
};

beforeAll(() => {
  dir = scratchDir('diskimg-ova-bad-');
  writeFileSync(join(dir, 'a.raw'), Buffer.alloc(128 * 1024, 0x61));
  qemuImg('convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', join(dir, 'a.raw'), join(dir, 'a.vmdk'));
  writeFileSync(join(dir, 'vm.ovf'), ovf([{ file: 'a.vmdk', capacity: 128 * 1024 }]));
  good = tar('good.ova', 'vm.ovf', 'a.vmdk');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Damage {
  what: string;
  make: () => string;
  kind: DiskImgError['kind'];
  field: string;
  ovaDisk?: number;
}

const withOvf =
  (name: string, text: string, ...members: string[]) =>
  () => {
    writeFileSync(join(dir, `${name}.ovf`), text);
    return tar(`${name}.ova`, `${name}.ovf`, ...members);
  };

const damages: Damage[] = [
  { what: 'a disk number past the last', make: () => good, kind: 'usage', field: 'ova disk', ovaDisk: 1 },
  {
    what: 'a disk missing from the archive',
    make: withOvf('missing', ovf([{ file: 'gone.vmdk', capacity: 1 }])),
    kind: 'not-found',
    field: 'href',
  },
  {
    what: 'a gzip-compressed disk',
    make: withOvf(
      'gzip',
      ovf([{ file: 'a.vmdk', capacity: 1 }]).replace('ovf:id="file1"', 'ovf:id="file1" ovf:compression="gzip"'),
      'a.vmdk',
    ),
    kind: 'unsupported',
    field: 'compression',
  },
  {
    what: 'a disk in chunks',
    make: withOvf(
      'chunks',
      ovf([{ file: 'a.vmdk', capacity: 1 }]).replace('ovf:id="file1"', 'ovf:id="file1" ovf:chunkSize="65536"'),
      'a.vmdk',
    ),
    kind: 'unsupported',
    field: 'chunkSize',
  },
  { what: 'an OVF naming no disk', make: withOvf('empty', ovf([])), kind: 'invalid-format', field: 'DiskSection' },
  {
    what: 'a bad checksum in the second header',
    make: () => {
      const file = join(dir, 'checksum.ova');
      copyFileSync(good, file);
      const second = 512 + Math.ceil(readFileSync(join(dir, 'vm.ovf')).length / 512) * 512;
      patch(file, second, [0x78]);
      return file;
    },
    kind: 'corrupt',
    field: 'tar header',
  },
  {
    what: 'a truncated archive',
    make: () => {
      const file = join(dir, 'truncated.ova');
      copyFileSync(good, file);
      truncateSync(file, 512 + Math.ceil(readFileSync(join(dir, 'vm.ovf')).length / 512) * 512 + 1024);
      return file;
    },
    kind: 'corrupt',
    field: 'tar member size',
  },
];

describe('damaged OVAs are refused with a clear error', () => {
  it.each(damages.map((d) => [d.what, d] as [string, Damage]))('%s', async (_what, damage) => {
    const file = damage.make();
    const caught = await open(file, { ovaDisk: damage.ovaDisk }).then(
      (image) => image.close(),
      (error: unknown) => error,
    );
    expect(caught).toBeInstanceOf(DiskImgError);
    expect((caught as DiskImgError).kind).toBe(damage.kind);
    expect((caught as DiskImgError).context.field).toBe(damage.field);
  });

  it('a tar whose first file is not an OVF is not an OVA: raw, unless forced', async () => {
    writeFileSync(join(dir, 'notes.txt'), 'hello\n');
    const file = tar('plain.tar', 'notes.txt', 'vm.ovf', 'a.vmdk');
    const storage = await NodeFileStorage.open(file);
    try {
      expect((await probeFormat(storage)).format).toBe('raw');
    } finally {
      await storage.close();
    }
    const caught = await open(file, { format: 'ova' }).then(
      (image) => image.close(),
      (error: unknown) => error,
    );
    expect(caught).toMatchObject({ kind: 'invalid-format', context: { field: 'tar member' } });
  });
});
