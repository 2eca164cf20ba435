/**
 * Disc seeds: ISO 9660 with Rock Ridge, Joliet and El Torito (xorriso), UDF bridge and VAT,
 * zisofs (v1 and zisofs2) files, and Rock Ridge devices, FIFOs, sockets and long symlinks.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RecipeBook } from './tools.ts';

/** Small blocks: several block pointers per file to damage. */
function zisofsDisc(file: string, tree: string, settings: string): void {
  mkdirSync(join(tree, 'sub'), { recursive: true });
  let text = '';
  for (let i = 0; text.length < 100_000; i++) text += `line ${i} ${(i * 2654435761) % 100003}\n`;
  writeFileSync(join(tree, 'text.txt'), text);
  writeFileSync(join(tree, 'sub', 'zeros.bin'), Buffer.alloc(80_000));
  writeFileSync(join(tree, 'tiny.txt'), 'tiny\n');
  execFileSync('xorriso', ['-outdev', file, '-zisofs', settings, '-map', tree, '/', '-set_filter_r', '--zisofs', '/', '--', '-commit'], {
    stdio: 'ignore',
  });
  rmSync(tree, { recursive: true, force: true });
}

export const discRecipes: RecipeBook = {
  url: import.meta.url,
  tools: ['xorriso', 'genisoimage', 'mkudffs'],
  recipes: {
    'files.iso': (f, dir) => {
      const tree = join(dir, 'iso-tree');
      mkdirSync(join(tree, 'boot', 'deep', 'er'), { recursive: true });
      writeFileSync(join(tree, 'boot', 'loader.bin'), Buffer.alloc(2048, 0x90));
      writeFileSync(join(tree, 'boot', 'deep', 'er', 'Tiếng Việt tên dài.txt'), 'xin chào\n');
      for (let i = 0; i < 20; i++) writeFileSync(join(tree, `file-${i}.txt`), `file ${i}\n`.repeat(i + 1));
      execFileSync(
        'xorriso',
        [
          '-as',
          'mkisofs',
          '-quiet',
          '-R',
          '-J',
          '-V',
          'FUZZ',
          '-b',
          'boot/loader.bin',
          '-no-emul-boot',
          '-boot-load-size',
          '4',
          '-o',
          f,
          tree,
        ],
        { stdio: 'ignore' },
      );
      rmSync(tree, { recursive: true, force: true });
    },
    'udf-bridge.iso': (f, dir) => {
      // UDF 1.02 beside ISO 9660: genisoimage -udf.
      const tree = join(dir, 'udf-tree');
      mkdirSync(join(tree, 'sub', 'deeper'), { recursive: true });
      writeFileSync(join(tree, 'sub', 'deeper', 'Tiếng Việt.txt'), 'xin chào\n');
      for (let i = 0; i < 20; i++) writeFileSync(join(tree, `file-${i}.txt`), `file ${i}\n`.repeat(i * 50 + 1));
      execFileSync('genisoimage', ['-quiet', '-udf', '-R', '-J', '-o', f, tree], { stdio: 'ignore' });
      rmSync(tree, { recursive: true, force: true });
    },
    'zisofs.iso': (f, dir) => zisofsDisc(f, join(dir, 'zisofs-tree'), 'level=9:block_size=32k'),
    'zisofs2.iso': (f, dir) => zisofsDisc(f, join(dir, 'zisofs2-tree'), 'version_2=on:susp_z2=on:block_size_v2=32k'),
    'special.iso': (f, dir) => {
      // Devices (mknod needs root: left out without it), a FIFO, a socket, symlinks over several SL entries.
      const tree = join(dir, 'special-tree');
      mkdirSync(tree, { recursive: true });
      try {
        execFileSync('mknod', [join(tree, 'disk'), 'b', '8', '1'], { stdio: 'ignore' });
        execFileSync('mknod', [join(tree, 'null'), 'c', '1', '3'], { stdio: 'ignore' });
      } catch {
        // not root
      }
      execFileSync('mkfifo', [join(tree, 'fifo')]);
      // Bound by a relative name: a socket's path is limited to 107 bytes.
      execFileSync('python3', ['-c', 'import socket; socket.socket(socket.AF_UNIX).bind("socket")'], { cwd: tree });
      symlinkSync(`${'x'.repeat(100)}/${'y'.repeat(100)}`, join(tree, 'long200'));
      symlinkSync('c'.repeat(255), join(tree, 'comp255'));
      symlinkSync(`/${Array.from({ length: 5 }, (_, i) => `${'e'.repeat(58)}${i}`).join('/')}`, join(tree, 'abs300'));
      writeFileSync(join(tree, 'plain.txt'), 'plain\n');
      execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-o', f, tree], { stdio: 'ignore' });
      rmSync(tree, { recursive: true, force: true });
    },
    'udf-vat.iso': (f) => {
      // UDF 2.50 on write-once media: a virtual partition and its VAT (mkudffs, empty).
      execFileSync('mkudffs', ['-m', 'bdr', '-r', '2.50', '--label=FUZZ', f, '1024'], { stdio: 'ignore' });
    },
  },
};
