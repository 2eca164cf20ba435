/**
 * VDI, QED and qcow (v1) images made by the real qemu-img and qemu-io: every subformat and option
 * qemu-img offers for them, partial and zero writes, backing chains. Built once into a cache
 * folder keyed by this file's content.
 */
import { execFileSync } from 'node:child_process';
import { openSync, writeSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedFixtures } from '../support/fixture-cache.ts';
import { mixedRaw, pattern, type Fixture } from './fixtures.ts';

export type SmallFormat = 'vdi' | 'qed' | 'qcow';

export interface SmallFixture extends Fixture {
  format: SmallFormat;
  /** Secret data for an encrypted image (qemu's --object secret). */
  secret?: string;
}

const MiB = 1024 * 1024;
let cwd = '.';
const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
const qemuIo = (format: string, file: string, ...commands: string[]) =>
  execFileSync('qemu-io', ['-f', format, ...commands.flatMap((c) => ['-c', c]), file], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });

/** Writes a 32-bit little-endian value into a file (a VirtualBox-style discarded block). */
function patchLE32(file: string, offset: number, value: number): void {
  const fd = openSync(file, 'r+');
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value);
  writeSync(fd, b, 0, 4, offset);
  closeSync(fd);
}

const HOLES =
  'qemu-img asks the file system which parts of a preallocated image are holes (SEEK_DATA), which neither Node nor the browser can see';

function build(dir: string): SmallFixture[] {
  cwd = dir;
  const f = (name: string) => join(dir, name);
  const out: SmallFixture[] = [];
  const add = (format: SmallFormat, name: string, extra: Partial<SmallFixture> = {}) => out.push({ format, name, file: f(name), ...extra });
  const source = mixedRaw(f('source.raw'), 9 * MiB + 5 * 512, 11);
  const text = f('text.raw');
  writeFileSync(
    text,
    Buffer.concat([
      pattern('text', 3 * MiB, 5),
      pattern('zero', MiB, 0),
      pattern('random', 512 * 1024, 6),
      pattern('text', 1536 * 1024, 8),
    ]),
  );
  // A raw base written in full (no holes, so qemu-img map says the same as we do).
  const base = f('base.raw');
  execFileSync('cp', [source, base]);
  execFileSync('truncate', ['-s', `${6 * MiB}`, base]);

  // VDI: dynamic and static, partial writes, writes across blocks, zero writes, an odd size.
  qemuImg('create', '-f', 'vdi', f('empty.vdi'), '5M');
  add('vdi', 'empty.vdi');
  qemuImg('create', '-f', 'vdi', f('writes.vdi'), `${20 * MiB + 3 * 512}`);
  qemuIo('vdi', 'writes.vdi', 'write -P 5 0 64k', 'write -P 6 1536k 2M', 'write -z 8M 1M', 'write -P 7 20M 1k', 'write -z 12M 4k');
  add('vdi', 'writes.vdi');
  qemuImg('convert', '-f', 'raw', '-O', 'vdi', source, f('converted.vdi'));
  add('vdi', 'converted.vdi');
  qemuImg('create', '-f', 'vdi', '-o', 'static=on', f('static.vdi'), '3M');
  qemuIo('vdi', 'static.vdi', 'write -P 9 1M 100k');
  add('vdi', 'static.vdi', { mapDiffers: HOLES });
  qemuImg('create', '-f', 'vdi', '-o', 'static=on', f('static-full.vdi'), '2M');
  qemuIo('vdi', 'static-full.vdi', 'write -P 3 0 2M');
  add('vdi', 'static-full.vdi');
  qemuImg('convert', '-f', 'raw', '-O', 'vdi', '-o', 'static=on', source, f('converted-static.vdi'));
  add('vdi', 'converted-static.vdi', { mapDiffers: HOLES });
  // VirtualBox marks compacted blocks discarded (0xfffffffe): zeros, and a count check complains.
  execFileSync('cp', [f('writes.vdi'), f('discarded.vdi')]);
  patchLE32(f('discarded.vdi'), 0x200 + 4, 0xfffffffe);
  add('vdi', 'discarded.vdi');

  // preallocation= (the file layer's): full writes the file's zeros, falloc reserves them.
  for (const [format, mode] of [
    ['vdi', 'full'],
    ['qed', 'full'],
    ['qcow', 'falloc'],
    ['qcow', 'full'],
  ] as const) {
    const name = `prealloc-${mode}.${format}`;
    qemuImg('create', '-f', format, '-o', `preallocation=${mode}`, f(name), '3M');
    qemuIo(format, name, 'write -P 12 0 8k', 'write -P 13 2M 4k');
    add(format, name);
  }

  // QED: default and small tables (several L2 tables), zero clusters, backing files, a dirty image.
  qemuImg('create', '-f', 'qed', f('empty.qed'), '5M');
  add('qed', 'empty.qed');
  qemuImg('create', '-f', 'qed', f('writes.qed'), `${12 * MiB}`);
  qemuIo(
    'qed',
    'writes.qed',
    'write -P 5 0 64k',
    'write -P 6 100k 300k',
    'write -z 1M 128k',
    'write -z 2M 3k',
    'write -P 7 3M 64k',
    'write -z 3M 64k',
  );
  add('qed', 'writes.qed');
  qemuImg('create', '-f', 'qed', '-o', 'cluster_size=4k,table_size=2', f('small-tables.qed'), `${20 * MiB}`);
  qemuIo('qed', 'small-tables.qed', 'write -P 1 0 8k', 'write -P 2 4092k 8k', 'write -z 8M 64k', 'write -P 3 19M 1M');
  add('qed', 'small-tables.qed');
  // (qemu cannot open its own table_size=1 images: see the bad-input tests.)
  for (const [cluster, table] of [
    ['16k', '8'],
    ['256k', '2'],
    ['64k', '16'],
  ]) {
    const name = `cluster${cluster}-table${table}.qed`;
    qemuImg('convert', '-f', 'raw', '-O', 'qed', '-o', `cluster_size=${cluster},table_size=${table}`, source, f(name));
    add('qed', name);
  }
  qemuImg('create', '-f', 'qed', '-b', 'base.raw', '-F', 'raw', f('over-raw.qed'), `${8 * MiB}`);
  qemuIo('qed', 'over-raw.qed', 'write -P 8 1M 64k', 'write -z 2M 64k', 'write -P 9 7M 4k');
  add('qed', 'over-raw.qed', { chain: true });
  qemuImg('create', '-f', 'qcow2', f('base.qcow2'), `${4 * MiB}`);
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 4 0 4M', f('base.qcow2')], { stdio: 'ignore' });
  qemuImg('create', '-f', 'qed', '-b', 'base.qcow2', '-F', 'qcow2', f('over-qcow2.qed'), `${6 * MiB}`);
  qemuIo('qed', 'over-qcow2.qed', 'write -P 8 64k 64k');
  add('qed', 'over-qcow2.qed', { chain: true });
  qemuImg('create', '-f', 'qed', '-b', 'over-raw.qed', '-F', 'qed', f('top.qed'), `${8 * MiB}`);
  qemuIo('qed', 'top.qed', 'write -P 10 1M 4k', 'write -z 6M 64k');
  add('qed', 'top.qed', { chain: true });
  qemuImg('create', '-f', 'qed', f('dirty.qed'), '2M');
  try {
    qemuIo('qed', 'dirty.qed', 'write -P 3 0 64k', 'abort');
  } catch {
    // qemu-io aborts on purpose, leaving the need-check flag set.
  }
  if ((readFileSync(f('dirty.qed'))[16] & 2) === 0) throw new Error('dirty.qed lost its need-check flag');
  add('qed', 'dirty.qed');

  // qcow v1: plain, written, converted, compressed, backing chains, encrypted.
  qemuImg('create', '-f', 'qcow', f('empty.qcow'), '5M');
  add('qcow', 'empty.qcow');
  qemuImg('create', '-f', 'qcow', f('writes.qcow'), `${10 * MiB + 512}`);
  qemuIo('qcow', 'writes.qcow', 'write -P 5 0 64k', 'write -P 6 5000 3000', 'write -z 1M 64k', 'write -P 7 10M 512');
  add('qcow', 'writes.qcow');
  qemuImg('convert', '-f', 'raw', '-O', 'qcow', source, f('converted.qcow'));
  add('qcow', 'converted.qcow');
  // qemu-img 7.2 ends a compressed conversion with an empty compressed write, which qcow refuses:
  // it exits 1 with the image complete, so the image is compared with its source instead.
  try {
    qemuImg('convert', '-c', '-f', 'raw', '-O', 'qcow', text, f('compressed.qcow'));
  } catch {
    execFileSync('qemu-img', ['compare', '-f', 'qcow', '-F', 'raw', f('compressed.qcow'), text], { stdio: 'ignore' });
  }
  add('qcow', 'compressed.qcow');
  qemuImg('create', '-f', 'qcow', '-b', 'base.raw', '-F', 'raw', f('over-raw.qcow'), `${8 * MiB}`);
  qemuIo('qcow', 'over-raw.qcow', 'write -P 8 1M 64k', 'write -z 2M 4k', 'write -P 9 7M 4k');
  add('qcow', 'over-raw.qcow', { chain: true });
  qemuImg('create', '-f', 'qcow', '-b', 'over-raw.qcow', '-F', 'qcow', f('top.qcow'), `${8 * MiB}`);
  qemuIo('qcow', 'top.qcow', 'write -P 10 1M 4k', 'write -P 11 3M 1k');
  add('qcow', 'top.qcow', { chain: true });
  const secret = 'secret,id=sec0,data=passw0rd';
  qemuImg('create', '-f', 'qcow', '--object', secret, '-o', 'encrypt.format=aes,encrypt.key-secret=sec0', f('aes.qcow'), `${3 * MiB}`);
  execFileSync(
    'qemu-io',
    [
      '--object',
      secret,
      '--image-opts',
      '-c',
      'write -P 7 512 100k',
      '-c',
      'write -P 9 1M 4k',
      `driver=qcow,file.filename=${f('aes.qcow')},encrypt.key-secret=sec0`,
    ],
    { stdio: 'ignore' },
  );
  add('qcow', 'aes.qcow', { secret });
  return out;
}

let cached: SmallFixture[] | undefined;
export function smallFixtures(format: SmallFormat): SmallFixture[] {
  cached ??= cachedFixtures('diskimg-small-formats', import.meta.url, build);
  return cached.filter((fixture) => fixture.format === format);
}
