/**
 * A VHD's virtual size, as qemu 7.2 decides it: CHS geometry or the footer's current_size, by the
 * application that made the image. qemu-img-made images given another creator (and a current size
 * that differs from their geometry) must open at the size qemu-img says.
 */
import { rmSync, statSync } from 'node:fs';
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

afterAll(() => rmSync(dir, { recursive: true, force: true }));
