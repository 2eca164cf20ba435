/** OVA seeds: a ustar archive of an OVF and two small streamOptimized VMDKs (GNU tar, qemu-img). */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ovf } from '../../support/ovf.ts';
import { qemuImg, type RecipeBook } from './tools.ts';

export const ovaRecipes: RecipeBook = {
  url: import.meta.url,
  tools: ['qemu-img', 'tar'],
  recipes: {
    'two-disks.ova': (f, dir) => {
      writeFileSync(join(dir, 'a.raw'), Buffer.from(Array.from({ length: 96 * 1024 }, (_, i) => (i * 13) & 0xff)));
      writeFileSync(join(dir, 'b.raw'), Buffer.alloc(64 * 1024, 0x5a));
      qemuImg('convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', join(dir, 'a.raw'), join(dir, 'a.vmdk'));
      qemuImg('convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', join(dir, 'b.raw'), join(dir, 'b.vmdk'));
      writeFileSync(
        join(dir, 'vm.ovf'),
        ovf([
          { file: 'a.vmdk', capacity: 96 * 1024 },
          { file: 'b.vmdk', capacity: 64 * 1024 },
        ]),
      );
      execFileSync('tar', ['--format=ustar', '-cf', f, 'vm.ovf', 'a.vmdk', 'b.vmdk'], { cwd: dir, stdio: 'ignore' });
    },
  },
};
