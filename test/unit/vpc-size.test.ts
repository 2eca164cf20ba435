/**
 * A VHD's virtual size, as qemu 7.2 decides it: CHS geometry or the footer's current_size, by the
 * application that made the image. qemu-img-made images given another creator (and a current size
 * that differs from their geometry) must open at the size qemu-img says.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copy, open, patch, qemuImg, scratchDir, be64 } from '../support/qemu.ts';
import { resum } from '../support/vpc.ts';

let dir: string;
let dynamic: string;
let fixed: string;

beforeAll(() => {
  dir = scratchDir('diskimg-vpc-size-');
  dynamic = join(dir, 'dynamic.vhd');
  qemuImg('create', '-q', '-f', 'vpc', dynamic, '10M');
  fixed = join(dir, 'fixed.vhd');
  qemuImg('create', '-q', '-f', 'vpc', '-o', 'subformat=fixed', fixed, '10M');
});

const creators = ['vpc ', 'qemu', 'qem2', 'win ', 'd2v ', 'CTXS', 'tap\0', 'tap ', 'VBox', 'wa\0\0'];

describe('virtual size by creator application', () => {
  for (const kind of ['dynamic', 'fixed'] as const) {
    for (const creator of creators) {
      for (const maxGeometry of [false, true]) {
        it(`${kind}, creator '${creator.replace(/\0/g, '\\0')}'${maxGeometry ? ', geometry 65535×16×255' : ''}`, async () => {
          const file = copy(kind === 'dynamic' ? dynamic : fixed, join(dir, `${kind}-${creator.replace(/\W/g, '_')}-${maxGeometry}.vhd`));
          const size = statSync(file).size;
          const at = kind === 'dynamic' ? 0 : size - 512;
          patch(file, at + 28, [...Buffer.from(creator, 'latin1')]);
          patch(file, at + 48, be64(9n * 1024n * 1024n + 1536n));
          if (maxGeometry) patch(file, at + 56, [0xff, 0xff, 16, 255]);
          resum(file, at);
          const expected = JSON.parse(qemuImg('info', '-f', 'vpc', '--output=json', file))['virtual-size'];
          const image = await open(file, { format: 'vpc' });
          expect(image.virtualSize).toBe(expected);
          await image.close();
        });
      }
    }
  }
});

/** Our raw reading of `file` (opened as vpc) and qemu-img's, compared. */
async function sameAsQemu(file: string): Promise<void> {
  const theirs = `${file}.qemu.raw`;
  qemuImg('convert', '-f', 'vpc', '-O', 'raw', file, theirs);
  const image = await open(file, { format: 'vpc' });
  try {
    expect(Buffer.from(await image.read(0, image.virtualSize)).equals(readFileSync(theirs))).toBe(true);
  } finally {
    await image.close();
  }
}

describe('quirks of qemu 7.2 we keep', () => {
  it("a dynamic disk's sector bitmap is ignored: an allocated block reads whole", async () => {
    const file = join(dir, 'bitmap-clear.vhd');
    qemuImg('create', '-q', '-f', 'vpc', file, '4M');
    execFileSync('qemu-io', ['-f', 'vpc', '-c', 'write -P 0x5a 0 2M', file], { stdio: 'ignore' });
    const block0 = readFileSync(file).readUInt32BE(1536) * 512;
    patch(file, block0, new Array(512).fill(0));
    await sameAsQemu(file);
  });

  it('a fixed disk larger than its file reads its footer, then zeros', async () => {
    const file = copy(fixed, join(dir, 'fixed-larger-than-file.vhd'));
    const at = statSync(file).size - 512;
    patch(file, at + 28, [...Buffer.from('vpc ')]);
    patch(file, at + 56, [0x01, 0x00, 16, 63]);
    resum(file, at);
    await sameAsQemu(file);
  });

  it('a footer at the start that says fixed reads the file as it is', async () => {
    const file = copy(dynamic, join(dir, 'fixed-type-at-start.vhd'));
    patch(file, 60, [0, 0, 0, 2]);
    resum(file, 0);
    await sameAsQemu(file);
    expect(JSON.parse(qemuImg('info', '-f', 'vpc', '--output=json', file))['cluster-size']).toBeUndefined();
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));
