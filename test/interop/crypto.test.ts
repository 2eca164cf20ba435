/**
 * Encrypted qcow2 against the real qemu-img: images it makes (LUKS with each cipher mode, IV
 * generator and hash it can create, extra key slots added by `qemu-img amend`, legacy AES) read
 * byte-identical to its own raw conversion; `info` prints what it prints; LUKS images we write
 * open in qemu-img with the passphrase, check clean and compare identical, laid out as its own;
 * wrong, missing and damaged keys fail clearly and leave no output behind.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mixedRaw } from './fixtures.ts';
import { diskimg, firstDifference, qemuImg, qemuImgOk } from './support.ts';

const PASS = 'correct horse';
const SECRET = `secret,id=sec0,data=${PASS}`;
let dir: string;
let raw: string;

const at = (name: string) => join(dir, name);
const imageOpts = (file: string, secret = 'sec0') => `driver=qcow2,file.filename=${file},encrypt.key-secret=${secret}`;

/**
 * qemu-img times PBKDF2 by CPU time and gives up ("Unable to get accurate CPU usage") when a fast
 * hash finishes within the clock's tick: it is retried. Each try fails in a few milliseconds, and
 * on this VM sha1 failed 8 times in a row once, so up to 40.
 */
function qemuRetry(...args: string[]): void {
  for (let attempt = 1; ; attempt++) {
    const run = spawnSync('qemu-img', args, { encoding: 'utf8' });
    if (run.status === 0) return;
    if (attempt >= 40 || !run.stderr.includes('Unable to get accurate CPU usage'))
      throw new Error(`qemu-img ${args.join(' ')}: ${run.stderr}`);
  }
}

/** A LUKS image made by qemu-img, then written to by qemu-io (partial clusters, a zero cluster). */
function luksImage(name: string, options: string, size = '3M'): string {
  const file = at(name);
  qemuRetry(
    'create',
    '-q',
    '-f',
    'qcow2',
    '--object',
    SECRET,
    '-o',
    `encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10${options ? `,${options}` : ''}`,
    file,
    size,
  );
  execFileSync(
    'qemu-io',
    [
      '--object',
      SECRET,
      '--image-opts',
      imageOpts(file),
      '-c',
      'write -P 7 512 100k',
      '-c',
      'write -P 9 1M 4k',
      '-c',
      'write -z 1536k 64k',
      '-c',
      'write -P 5 2040k 8k',
    ],
    { stdio: 'ignore' },
  );
  return file;
}

/** qemu-img's own raw conversion of an encrypted image. */
function qemuRaw(file: string, secret = SECRET): string {
  const out = `${file}.qemu.raw`;
  qemuImgOk('convert', '--object', secret, '--image-opts', imageOpts(file), '-O', 'raw', out);
  return out;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'diskimg-crypto-'));
  raw = mixedRaw(at('mixed.raw'), 6 * 1024 * 1024 + 512 * 3, 7);
  writeFileSync(at('pass.txt'), `${PASS}\n`);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LUKS_COMBOS: Array<[string, string]> = [
  ['default (aes-256-xts-plain64, sha256)', ''],
  ['aes-128 cbc essiv:sha256, sha1', 'encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.hash-alg=sha1'],
  ['aes-256 cbc plain, sha512', 'encrypt.cipher-alg=aes-256,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=plain,encrypt.hash-alg=sha512'],
  [
    'aes-128 ctr essiv:sha256, sha1',
    'encrypt.cipher-alg=aes-128,encrypt.cipher-mode=ctr,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256,encrypt.hash-alg=sha1',
  ],
  ['aes-192 xts plain64, ripemd160', 'encrypt.cipher-alg=aes-192,encrypt.cipher-mode=xts,encrypt.hash-alg=ripemd160'],
  ['aes-256 ecb, md5', 'encrypt.cipher-alg=aes-256,encrypt.cipher-mode=ecb,encrypt.hash-alg=md5'],
  [
    'aes-128 xts essiv:sha256, sha224',
    'encrypt.cipher-alg=aes-128,encrypt.cipher-mode=xts,encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256,encrypt.hash-alg=sha224',
  ],
  ['4 KiB clusters, sha384', 'encrypt.hash-alg=sha384,cluster_size=4096'],
  ['compat=0.10', 'compat=0.10'],
];

describe('reading LUKS images qemu-img made', () => {
  LUKS_COMBOS.forEach(([what, options], i) => {
    it(`${what}: raw output byte-identical to qemu-img's, info identical`, async () => {
      const file = luksImage(`combo${i}.qcow2`, options);
      const expected = qemuRaw(file);
      const ours = `${file}.ours.raw`;
      const run = await diskimg('convert', '--object', SECRET, '--image-opts', imageOpts(file), '-O', 'raw', ours);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(firstDifference(ours, expected)).toBeNull();
      for (const output of ['human', 'json']) {
        expect((await diskimg('info', `--output=${output}`, file)).stdout).toBe(qemuImgOk('info', `--output=${output}`, file));
      }
      // map reports no host offsets for encrypted data, as qemu-img does.
      expect((await diskimg('map', '--output=json', file)).stdout).toBe(
        qemuImgOk('map', '--output=json', '--object', SECRET, '--image-opts', imageOpts(file)),
      );
    });
  });

  it('unlocks every key slot qemu-img amend added, with its own passphrase', async () => {
    const file = luksImage('slots.qcow2', '');
    for (const [slot, secret] of [
      [3, 'second'],
      [1, 'third'],
    ] as const) {
      qemuRetry(
        'amend',
        '--object',
        SECRET,
        '--object',
        `secret,id=new,data=${secret}`,
        '--image-opts',
        imageOpts(file),
        '-o',
        `encrypt.state=active,encrypt.new-secret=new,encrypt.keyslot=${slot},encrypt.iter-time=10`,
      );
    }
    const info = JSON.parse(qemuImgOk('info', '--output=json', file));
    expect(info['format-specific'].data.encrypt.slots.map((s: { active: boolean }) => s.active)).toEqual([
      true,
      true,
      false,
      true,
      false,
      false,
      false,
      false,
    ]);
    expect((await diskimg('info', '--output=json', file)).stdout).toBe(qemuImgOk('info', '--output=json', file));
    const expected = qemuRaw(file);
    for (const passphrase of [PASS, 'second', 'third']) {
      const ours = `${file}.${passphrase.replace(/\W/g, '')}.raw`;
      const run = await diskimg(
        'convert',
        '--object',
        `secret,id=k,data=${passphrase}`,
        '--image-opts',
        imageOpts(file, 'k'),
        '-O',
        'raw',
        ours,
      );
      expect(run.code).toBe(0);
      expect(firstDifference(ours, expected)).toBeNull();
    }
  });

  it('reads an encrypted overlay over a plain backing file (copy-on-write from the backing data)', async () => {
    const base = at('base.qcow2');
    qemuImgOk('create', '-q', '-f', 'qcow2', base, '2M');
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 2M', base], { stdio: 'ignore' });
    const overlay = at('overlay.qcow2');
    qemuRetry(
      'create',
      '-q',
      '-f',
      'qcow2',
      '--object',
      SECRET,
      '-b',
      base,
      '-F',
      'qcow2',
      '-o',
      'encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10',
      overlay,
    );
    execFileSync('qemu-io', ['--object', SECRET, '--image-opts', imageOpts(overlay), '-c', 'write -P 2 4k 4k'], { stdio: 'ignore' });
    const ours = `${overlay}.ours.raw`;
    expect((await diskimg('convert', '--passphrase-file', at('pass.txt'), overlay, ours)).code).toBe(0);
    expect(firstDifference(ours, qemuRaw(overlay))).toBeNull();
    expect((await diskimg('info', '--backing-chain', '--output=json', overlay)).stdout).toBe(
      qemuImgOk('info', '--backing-chain', '--output=json', overlay),
    );
  });

  it('reads legacy AES (crypt_method 1) images, keyed by the passphrase', async () => {
    const file = at('aes.qcow2');
    qemuImgOk('create', '-q', '-f', 'qcow2', '--object', SECRET, '-o', 'encrypt.format=aes,encrypt.key-secret=sec0', file, '3M');
    execFileSync('qemu-io', ['--object', SECRET, '--image-opts', imageOpts(file), '-c', 'write -P 7 512 100k', '-c', 'write -P 9 1M 4k'], {
      stdio: 'ignore',
    });
    const expected = qemuRaw(file);
    const ours = `${file}.ours.raw`;
    expect((await diskimg('convert', '--passphrase-file', at('pass.txt'), '-O', 'raw', file, ours)).code).toBe(0);
    expect(firstDifference(ours, expected)).toBeNull();
    expect((await diskimg('info', '--output=json', file)).stdout).toBe(qemuImgOk('info', '--output=json', file));
    expect((await diskimg('info', file)).stdout).toBe(qemuImgOk('info', file));
  });

  it('refuses serpent by name, but still describes the image', async () => {
    const file = at('serpent.qcow2');
    qemuRetry(
      'create',
      '-q',
      '-f',
      'qcow2',
      '--object',
      SECRET,
      '-o',
      'encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10,encrypt.cipher-alg=serpent-256',
      file,
      '1M',
    );
    expect((await diskimg('info', '--output=json', file)).stdout).toBe(qemuImgOk('info', '--output=json', file));
    const run = await diskimg('convert', '--passphrase-file', at('pass.txt'), '-O', 'raw', file, at('serpent.raw'));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Cipher algorithm serpent-256 is not supported by diskimg');
  });
});

describe('writing LUKS images qemu-img opens', () => {
  const combos = [
    ['default', 'encrypt.iter-time=10'],
    [
      'aes-128 cbc essiv, sha1',
      'encrypt.iter-time=10,encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.hash-alg=sha1',
    ],
    ['aes-256 xts plain64, sha512, 4 KiB clusters', 'encrypt.iter-time=10,encrypt.hash-alg=sha512,cluster_size=4096'],
  ];
  combos.forEach(([what, options], i) => {
    it(`${what}: qemu-img check clean, compare identical, laid out as qemu-img's own`, async () => {
      const ours = at(`written${i}.qcow2`);
      const run = await diskimg(
        'convert',
        '--object',
        SECRET,
        '-O',
        'qcow2',
        '-o',
        `encrypt.format=luks,encrypt.key-secret=sec0,${options}`,
        raw,
        ours,
      );
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(qemuImg('check', '--object', SECRET, '--image-opts', imageOpts(ours)).code).toBe(0);
      expect(qemuImgOk('compare', '--object', SECRET, '--image-opts', `driver=raw,file.filename=${raw}`, imageOpts(ours))).toBe(
        'Images are identical.\n',
      );
      const theirs = at(`theirs${i}.qcow2`);
      qemuRetry('convert', '--object', SECRET, '-O', 'qcow2', '-o', `encrypt.format=luks,encrypt.key-secret=sec0,${options}`, raw, theirs);
      // Random key material and ciphertext aside, the files are the same: header, tables, layout.
      const a = readFileSync(ours);
      const b = readFileSync(theirs);
      expect(a.length).toBe(b.length);
      const crypto = { offset: Number(a.readBigUInt64BE(0x78)), length: Number(a.readBigUInt64BE(0x80)) };
      expect(a.subarray(0, crypto.offset).equals(b.subarray(0, crypto.offset))).toBe(true);
      expect(a.subarray(crypto.offset, crypto.offset + 108).equals(b.subarray(crypto.offset, crypto.offset + 108))).toBe(true);
      const mapOf = (file: string) => qemuImgOk('map', '--output=json', '--object', SECRET, '--image-opts', imageOpts(file));
      expect(mapOf(ours)).toBe(mapOf(theirs));
      // And we read back what we wrote.
      expect((await diskimg('compare', '--passphrase-file', at('pass.txt'), raw, ours)).stdout).toBe('Images are identical.\n');
    });
  });

  it('writes the same through an append-only sink (two passes, one key)', async () => {
    const { MemorySink } = await import('../../src/core/sink.ts');
    const { convertImage } = await import('../../src/core/pipeline/convert-image.ts');
    const { open } = await import('../support/qemu.ts');
    const image = await open(raw, { format: 'raw' });
    const sink = new MemorySink();
    Object.defineProperty(sink, 'truncate', { value: undefined });
    await convertImage(image, sink, {
      outputFormat: 'qcow2',
      encrypt: { format: 'luks', passphrase: PASS, slotIterations: 1000, masterKeyIterations: 1000 },
    });
    await image.close();
    const file = at('sequential.qcow2');
    writeFileSync(file, sink.bytes);
    expect(qemuImg('check', '--object', SECRET, '--image-opts', imageOpts(file)).code).toBe(0);
    expect(qemuImgOk('compare', '--object', SECRET, '--image-opts', `driver=raw,file.filename=${raw}`, imageOpts(file))).toBe(
      'Images are identical.\n',
    );
  });

  it('create -o encrypt.* makes an empty image qemu-img can write to, with its Formatting line', async () => {
    const file = at('created.qcow2');
    const options =
      'encrypt.format=luks,encrypt.key-secret=sec0,encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv,encrypt.iter-time=10';
    const run = await diskimg('create', '-f', 'qcow2', '--object', SECRET, '-o', options, file, '3M');
    expect(run.code).toBe(0);
    // qemu-img prints the line before its PBKDF2 timing, which may fail (see qemuRetry).
    expect(run.stdout).toBe(
      qemuImg('create', '-f', 'qcow2', '--object', SECRET, '-o', options, at('created-by-qemu.qcow2'), '3M').stdout.replace(
        'created-by-qemu',
        'created',
      ),
    );
    execFileSync('qemu-io', ['--object', SECRET, '--image-opts', imageOpts(file), '-c', 'write -P 3 0 70k'], { stdio: 'ignore' });
    expect(qemuImg('check', '--object', SECRET, '--image-opts', imageOpts(file)).code).toBe(0);
    expect((await diskimg('convert', '--passphrase-file', at('pass.txt'), file, `${file}.raw`)).code).toBe(0);
    expect(firstDifference(qemuRaw(file), `${file}.raw`)).toBeNull();
  });

  it('refuses compression with encryption in qemu-img words', async () => {
    const expected = qemuImg(
      'convert',
      '-c',
      '--object',
      SECRET,
      '-O',
      'qcow2',
      '-o',
      'encrypt.format=luks,encrypt.key-secret=sec0',
      raw,
      at('c.qcow2'),
    );
    const run = await diskimg(
      'convert',
      '-c',
      '--object',
      SECRET,
      '-O',
      'qcow2',
      '-o',
      'encrypt.format=luks,encrypt.key-secret=sec0',
      raw,
      at('c.qcow2'),
    );
    expect(run.code).toBe(1);
    expect(run.stderr.replace(/^diskimg/, 'qemu-img')).toBe(expected.stderr);
  });

  it('needs a secret for the output, as qemu-img does', async () => {
    const run = await diskimg('convert', '-O', 'qcow2', '-o', 'encrypt.format=luks', raw, at('nokey.qcow2'));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("Parameter 'encrypt.key-secret' is required for cipher");
    expect(existsSync(at('nokey.qcow2'))).toBe(false);
  });
});

describe('passphrases that are wrong, missing or damaged', () => {
  let image: string;
  beforeAll(() => {
    image = luksImage('locked.qcow2', '');
  });

  it('a wrong passphrase is refused quickly with qemu-img words, and no output is left', async () => {
    const out = at('wrong.raw');
    const started = performance.now();
    const run = await diskimg('convert', '--object', 'secret,id=sec0,data=nope', '--image-opts', imageOpts(image), '-O', 'raw', out);
    expect(performance.now() - started).toBeLessThan(3000);
    expect(run.code).toBe(1);
    const theirs = qemuImg('convert', '--object', 'secret,id=sec0,data=nope', '--image-opts', imageOpts(image), '-O', 'raw', out);
    expect(run.stderr.replace(/^diskimg/, 'qemu-img')).toBe(theirs.stderr);
    expect(run.stderr).toContain('Invalid password, cannot unlock any keyslot');
    expect(existsSync(out)).toBe(false);
  });

  it('a missing passphrase names the options that give one', async () => {
    const run = await diskimg('convert', '-O', 'raw', image, at('missing.raw'));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("Parameter 'encrypt.key-secret' is required for cipher");
    expect(run.stderr).toContain('--passphrase-file');
    expect(existsSync(at('missing.raw'))).toBe(false);
    expect((await diskimg('compare', image, raw)).code).toBe(2);
  });

  it('an unknown secret id is refused as qemu-img refuses it', async () => {
    const run = await diskimg('convert', '--object', SECRET, '--image-opts', imageOpts(image, 'other'), '-O', 'raw', at('x.raw'));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("No secret with id 'other'");
  });

  it('info, map and check need no passphrase', async () => {
    expect((await diskimg('info', image)).stdout).toBe(qemuImgOk('info', image));
    expect((await diskimg('check', image)).stdout).toBe(qemuImgOk('check', '--object', SECRET, '--image-opts', imageOpts(image)));
    const map = await diskimg('map', image);
    expect(map.code).toBe(1);
    expect(map.stderr).toContain('File contains external, encrypted or compressed clusters.');
  });

  /** Damages the LUKS header inside a copy of the image; the crypto region starts at 0x40000. */
  const LUKS_AT = 0x40000;
  const damages: Array<[string, number, number[]]> = [
    ['bad magic', 0, [0x4d]],
    ['key slot offset past the end of the header region', 208 + 40, [0x00, 0x00, 0xff, 0x00]],
    ['stripes that are not 4000', 208 + 44, [0x00, 0xff, 0xff, 0xff]],
    ['a hash qemu does not know', 72, [...Buffer.from('sha2566\0')]],
  ];
  for (const [what, offset, bytes] of damages) {
    it(`a header with ${what} is refused with qemu-img's message`, async () => {
      const file = copyFileSync(image, at('damaged.qcow2')) ?? at('damaged.qcow2');
      const data = readFileSync(file);
      Buffer.from(bytes).copy(data, LUKS_AT + offset);
      writeFileSync(file, data);
      const theirs = qemuImg('info', file);
      expect(theirs.code).toBe(1);
      const ours = await diskimg('info', file);
      expect(ours.code).toBe(1);
      expect(ours.stderr.replace(/^diskimg/, 'qemu-img')).toBe(theirs.stderr);
    });
  }

  it('absurd iteration counts are refused before any PBKDF2 work', async () => {
    const file = at('iterations.qcow2');
    const data = readFileSync(image);
    data.writeUInt32BE(0xfffffff0, LUKS_AT + 208 + 4);
    writeFileSync(file, data);
    const started = performance.now();
    const run = await diskimg('convert', '--passphrase-file', at('pass.txt'), '-O', 'raw', file, at('iterations.raw'));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Keyslot 0 has 4294967280 PBKDF2 iterations, more than diskimg accepts');
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
