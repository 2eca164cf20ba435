/**
 * diskimg measure prints what qemu-img measure prints, to the byte: the same command lines run
 * through both (sizes alone, every option that changes qcow2's size, images of several formats),
 * and the same errors for bad arguments.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImage } from '../../src/core/open.ts';
import { measureOutput } from '../../src/core/pipeline/measure.ts';
import { NodeFileStorage } from '../../src/node/file-storage.ts';
import { MemoryStorage } from '../../src/core/storage/storage.ts';
import { diskimg, qemuImg, qemuImgOk } from './support.ts';

let dir: string;
const file = (name: string) => join(dir, name);
const qemuIo = (format: string, path: string, ...commands: string[]) =>
  execFileSync('qemu-io', ['-f', format, ...commands.flatMap((c) => ['-c', c]), path], { stdio: 'ignore' });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskimg-measure-'));
  // A sparse raw with data runs that start and end inside clusters, and one past the last cluster.
  qemuImgOk('create', '-q', '-f', 'raw', file('sparse.raw'), '64M');
  qemuIo('raw', file('sparse.raw'), 'write -P 1 100k 4k', 'write -P 2 1M 1M', 'write -P 3 5000k 200k', 'write -P 4 63M 4k');
  // A raw whose every block is written, zeros included: all of it is data to QEMU.
  execFileSync('dd', ['if=/dev/zero', `of=${file('dense.raw')}`, 'bs=1M', 'count=3', 'status=none']);
  qemuImgOk('create', '-q', '-f', 'raw', file('odd.raw'), '12345');
  qemuImgOk('create', '-q', '-f', 'raw', file('empty.raw'), '0');
  qemuImgOk('create', '-q', '-f', 'raw', file('hole.raw'), '8M');

  qemuImgOk('create', '-q', '-f', 'qcow2', file('plain.qcow2'), '16M');
  qemuIo('qcow2', file('plain.qcow2'), 'write -P 5 0 64k', 'write -P 6 3M 5k', 'write -z 8M 1M', 'write -P 7 15M 1M');
  qemuImgOk('convert', '-q', '-c', '-O', 'qcow2', file('plain.qcow2'), file('compressed.qcow2'));
  qemuImgOk('create', '-q', '-f', 'qcow2', '-o', 'compat=0.10', file('v2.qcow2'), '16M');
  qemuIo('qcow2', file('v2.qcow2'), 'write -P 8 2M 128k');
  qemuImgOk('create', '-q', '-f', 'qcow2', '-b', 'plain.qcow2', '-F', 'qcow2', file('overlay.qcow2'), '24M');
  qemuIo('qcow2', file('overlay.qcow2'), 'write -z 0 64k', 'write -P 9 20M 4k');
  qemuImgOk('create', '-q', '-f', 'qcow2', '-o', 'extended_l2=on,cluster_size=128k', file('subclusters.qcow2'), '16M');
  qemuIo('qcow2', file('subclusters.qcow2'), 'write -P 1 4k 4k', 'write -P 1 1M 64k');
  // Bitmaps are counted for the copy: granularities and name lengths change the figure.
  qemuImgOk('create', '-q', '-f', 'qcow2', file('bitmaps.qcow2'), '1G');
  qemuImgOk('bitmap', '--add', '-g', '512', file('bitmaps.qcow2'), 'fine');
  qemuImgOk('bitmap', '--add', '-g', '64k', file('bitmaps.qcow2'), 'a-bitmap-with-a-rather-long-name');
  qemuImgOk('bitmap', '--add', '--disable', file('bitmaps.qcow2'), 'off');
  // A snapshot whose data differs from the current state.
  qemuImgOk('create', '-q', '-f', 'qcow2', file('snap.qcow2'), '16M');
  qemuIo('qcow2', file('snap.qcow2'), 'write -P 1 0 4M');
  qemuImgOk('snapshot', '-c', 'before', file('snap.qcow2'));
  qemuIo('qcow2', file('snap.qcow2'), 'write -z 0 4M', 'write -P 2 8M 64k');

  qemuImgOk('convert', '-q', '-O', 'vmdk', file('sparse.raw'), file('sparse.vmdk'));
  qemuImgOk('convert', '-q', '-O', 'vpc', file('sparse.raw'), file('sparse.vhd'));
  writeFileSync(file('secret'), 'passphrase');
  qemuImgOk(
    'create',
    '-q',
    '-f',
    'qcow2',
    '--object',
    `secret,id=s,file=${file('secret')}`,
    '-o',
    'encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=10',
    file('luks.qcow2'),
    '8M',
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Both programs, the same arguments: the same exit code, output and errors (named as each). */
async function expectSame(args: string[]): Promise<void> {
  const theirs = qemuImg('measure', ...args);
  const ours = await diskimg('measure', ...args);
  expect({ code: ours.code, stdout: ours.stdout, stderr: ours.stderr }).toEqual({
    code: theirs.code,
    stdout: theirs.stdout,
    stderr: theirs.stderr.replaceAll('qemu-img:', 'diskimg:'),
  });
}

const SECRET = () => ['--object', `secret,id=s,file=${file('secret')}`];

describe('measure --size', () => {
  const sizes = ['0', '1', '511', '512', '12345', '65537', '1.5k', '0x10', '1G', '1T', '4T', '1P'];
  for (const size of sizes) {
    it(`--size ${size}, raw, qcow2 and json`, async () => {
      await expectSame(['--size', size]);
      await expectSame(['--size', size, '-O', 'qcow2']);
      await expectSame(['--output=json', '--size', size, '-O', 'qcow2']);
    });
  }

  const optionSets = [
    'cluster_size=512',
    'cluster_size=4k',
    'cluster_size=2M',
    'compat=0.10',
    'compat=1.1,lazy_refcounts=on',
    'extended_l2=on',
    'extended_l2=on,cluster_size=16k',
    'extended_l2=on,cluster_size=2M',
    'preallocation=off',
    'preallocation=metadata',
    'preallocation=falloc',
    'preallocation=full',
    'refcount_bits=1',
    'refcount_bits=64,cluster_size=512',
    'backing_file=base.qcow2,backing_fmt=qcow2',
    'compression_type=zstd,data_file=x.data,data_file_raw=on',
    'encryption=on',
    'cluster_size=4k,cluster_size=1M',
  ];
  for (const options of optionSets) {
    it(`-o ${options}`, async () => {
      for (const size of ['1', '100M', '3T']) await expectSame(['-O', 'qcow2', '-o', options, '--size', size]);
    });
  }

  it('the largest sizes: up to 2 EiB with 2 MiB clusters, and the limit past it', async () => {
    await expectSame(['-O', 'qcow2', '--size', '4P']);
    await expectSame(['-O', 'qcow2', '-o', 'cluster_size=2M', '--size', '2E']);
    await expectSame(['-O', 'qcow2', '-o', 'cluster_size=2M', '--size', '3E']);
    await expectSame(['-O', 'qcow2', '-o', 'cluster_size=2M', '--size', '8E']);
  });

  it('LUKS headers of each key length and cluster size', async () => {
    for (const extra of [
      '',
      ',encrypt.cipher-alg=aes-128',
      ',encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc',
      ',encrypt.cipher-alg=aes-192',
      ',encrypt.cipher-alg=twofish-256',
      ',cluster_size=4k',
      ',cluster_size=2M',
    ]) {
      await expectSame([
        ...SECRET(),
        '-O',
        'qcow2',
        '-o',
        `encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=10${extra}`,
        '--size',
        '1G',
      ]);
    }
  });
});

describe('measure an image', () => {
  const images = [
    'sparse.raw',
    'dense.raw',
    'odd.raw',
    'empty.raw',
    'hole.raw',
    'plain.qcow2',
    'compressed.qcow2',
    'v2.qcow2',
    'overlay.qcow2',
    'subclusters.qcow2',
    'bitmaps.qcow2',
    'snap.qcow2',
    'sparse.vmdk',
    'sparse.vhd',
  ];
  for (const name of images) {
    it(name, async () => {
      await expectSame([file(name)]);
      await expectSame(['-O', 'qcow2', file(name)]);
      await expectSame(['--output=json', '-O', 'qcow2', file(name)]);
      await expectSame(['-O', 'qcow2', '-o', 'cluster_size=4k,compat=0.10', file(name)]);
      await expectSame(['-O', 'qcow2', '-o', 'cluster_size=2M', file(name)]);
      await expectSame(['--output=json', '-O', 'qcow2', '-o', 'backing_file=x,backing_fmt=raw', file(name)]);
    });
  }

  it('an encrypted image: with its secret, and without (refused as qemu-img refuses it)', async () => {
    await expectSame([...SECRET(), '--image-opts', '-O', 'qcow2', `driver=qcow2,file.filename=${file('luks.qcow2')},encrypt.key-secret=s`]);
    const theirs = qemuImg('measure', '-O', 'qcow2', file('luks.qcow2'));
    const ours = await diskimg('measure', '-O', 'qcow2', file('luks.qcow2'));
    expect(ours.code).toBe(1);
    // diskimg adds how to give the passphrase.
    expect(ours.stderr.startsWith(theirs.stderr.replace('qemu-img:', 'diskimg:').trimEnd())).toBe(true);
  });

  it('with -f, and at an internal snapshot (-l)', async () => {
    await expectSame(['-f', 'raw', '-O', 'qcow2', file('plain.qcow2')]);
    await expectSame(['-O', 'qcow2', '-l', 'before', file('snap.qcow2')]);
    await expectSame(['-O', 'qcow2', '-l', 'snapshot.name=before', file('snap.qcow2')]);
  });
});

describe('measure: bad arguments', () => {
  const bad = [
    [],
    ['--size', '1G', 'FILE'],
    ['FILE', 'FILE'],
    ['-f', 'raw', '--size', '1G'],
    ['-l', 'snap', '--size', '1G'],
    ['--size', 'abc'],
    ['--size', '-1'],
    ['--size', '1.5'],
    ['--output=xml', '--size', '1G'],
    ['-O', 'foo', '--size', '1G'],
    ['-O', 'vmdk', '--size', '1G'],
    ['-O', 'qcow2', '-o', 'cluster_size=3', '--size', '1G'],
    ['-O', 'qcow2', '-o', 'cluster_size=4M', '--size', '1G'],
    ['-O', 'qcow2', '-o', 'cluster_size=abc', '--size', '1G'],
    ['-O', 'qcow2', '-o', 'compat=0.9', '--size', '1G'],
    ['-O', 'qcow2', '-o', 'compat=v3', '--size', '1G'],
    ['-O', 'qcow2', '-o', 'bogus=1', '--size', '1G'],
    ['-o', 'cluster_size=4k', '--size', '1G'],
    ['-O', 'qcow2', '-o', 'refcount_bits=3', '--size', '1G'],
    ['-O', 'qcow2', '-o', 'refcount_bits=x', '--size', '1G'],
    ['-O', 'qcow2', '-o', 'compat=0.10,refcount_bits=8', '--size', '1G'],
    ['-O', 'qcow2', '-o', 'lazy_refcounts=maybe', '--size', '1G'],
    ['-O', 'qcow2', '-o', 'preallocation=xx', '--size', '1G'],
    ['-O', 'qcow2', '-o', 'extended_l2=on,cluster_size=4k', '--size', '1G'],
    ['-O', 'qcow2', '--size', '4P', '-o', 'cluster_size=64k'],
    ['-O', 'qcow2', '-o', 'encrypt.format=luks', '--size', '1G'],
    ['-O', 'qcow2', '-o', 'encrypt.format=luks,encrypt.key-secret=nope', '--size', '1G'],
  ];
  for (const args of bad) {
    it(args.join(' ') || '(no arguments)', async () => {
      await expectSame(args.map((a) => (a === 'FILE' ? file('plain.qcow2') : a)));
    });
  }

  it('a snapshot that is not there', async () => {
    await expectSame(['-O', 'qcow2', '-l', 'nosuch', file('snap.qcow2')]);
  });

  it('a missing file and a damaged one', async () => {
    await expectSame([file('missing.qcow2')]);
    writeFileSync(file('garbage.qcow2'), Buffer.concat([Buffer.from('QFI\xfb', 'latin1'), Buffer.from([0, 0, 0, 9]), Buffer.alloc(504)]));
    const ours = await diskimg('measure', '-O', 'qcow2', file('garbage.qcow2'));
    expect(ours.code).toBe(1);
    expect(ours.stderr).toBe(qemuImg('measure', '-O', 'qcow2', file('garbage.qcow2')).stderr.replace('qemu-img:', 'diskimg:'));
  });
});

describe('measureOutput (what the page shows before converting)', () => {
  it('is qemu-img measure’s required size where that is the tighter bound, for qcow2 and raw output', async () => {
    const image = await openImage(await NodeFileStorage.open(file('plain.qcow2')), {});
    try {
      const required = (args: string[]) =>
        JSON.parse(qemuImgOk('measure', '--output=json', ...args, file('plain.qcow2'))).required as number;
      expect(await measureOutput(image, { outputFormat: 'qcow2', clusterSize: 65536 })).toBe(required(['-O', 'qcow2']));
      // 4 KiB clusters: qemu-img counts all 8 L2 tables of the 16 MiB disk; the page, those with data.
      const small = await measureOutput(image, { outputFormat: 'qcow2', clusterSize: 4096 });
      expect(small).toBeLessThan(required(['-O', 'qcow2', '-o', 'cluster_size=4k']));
      const out = file('plain-4k.qcow2');
      expect((await diskimg('convert', '-O', 'qcow2', '-o', 'cluster_size=4k', file('plain.qcow2'), out)).code).toBe(0);
      expect(statSync(out).size).toBeLessThanOrEqual(small);
      expect(await measureOutput(image, { outputFormat: 'qcow2', clusterSize: 65536, encrypted: true })).toBe(
        required([...SECRET(), '-O', 'qcow2', '-o', 'encrypt.format=luks,encrypt.key-secret=s']),
      );
      expect(await measureOutput(image, { outputFormat: 'raw', clusterSize: 65536 })).toBe(required(['-O', 'raw']));
    } finally {
      await image.close();
    }
  });

  it('for a sparse 64 TiB qcow2, leaves out the L2 tables of empty ranges (qemu-img counts 8 GiB of them), and still holds the file', async () => {
    const huge = file('huge.qcow2');
    qemuImgOk('create', '-q', '-f', 'qcow2', huge, '64T');
    qemuIo('qcow2', huge, 'write -P 1 0 1M', 'write -P 2 40T 64k');
    const image = await openImage(await NodeFileStorage.open(huge), {});
    try {
      const bound = await measureOutput(image, { outputFormat: 'qcow2', clusterSize: 65536 });
      expect(bound).toBeLessThan(JSON.parse(qemuImgOk('measure', '--output=json', '-O', 'qcow2', huge)).required / 1000);
      const out = file('huge-out.qcow2');
      expect((await diskimg('convert', '-O', 'qcow2', huge, out)).code).toBe(0);
      expect(statSync(out).size).toBeLessThanOrEqual(bound);
    } finally {
      await image.close();
    }
  });

  it('counts a raw image held in memory (no hole information) as all data: never less than qemu-img', async () => {
    const bytes = new Uint8Array(1 << 20);
    bytes[5000] = 1;
    const image = await openImage(new MemoryStorage(bytes, 'memory.raw'), { format: 'raw' });
    expect(await measureOutput(image, { outputFormat: 'qcow2', clusterSize: 65536 })).toBe(
      JSON.parse(qemuImgOk('measure', '--output=json', '-O', 'qcow2', '--size', '1M'))['fully-allocated'],
    );
  });
});
