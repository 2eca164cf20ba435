/**
 * Standalone LUKS volumes (qemu's "luks" driver) against the real qemu-img: volumes it makes with
 * each cipher, mode, IV generator and hash, written to by qemu-io, convert to the same raw bytes
 * with the passphrase; info (without it) and map (with it) print what qemu-img prints.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cachedFixtures } from '../support/fixture-cache.ts';
import { diskimg, firstDifference, qemuImgOk } from './support.ts';

const PASS = 'correct horse';
const SECRET = `secret,id=s0,data=${PASS}`;
const imageOpts = (file: string, secret = 's0') => `driver=luks,file.filename=${file},key-secret=${secret}`;

const COMBOS: Array<[string, string, string]> = [
  ['default (aes-256 xts plain64, sha256)', '', '4M'],
  ['aes-128 cbc essiv:sha256, sha1', 'cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=essiv,hash-alg=sha1', '3M'],
  ['aes-256 cbc plain, sha512, odd size', 'cipher-alg=aes-256,cipher-mode=cbc,ivgen-alg=plain,hash-alg=sha512', '1537k'],
  ['aes-256 ctr plain64, sha384', 'cipher-alg=aes-256,cipher-mode=ctr,hash-alg=sha384', '2M'],
];

/** qemu-img times PBKDF2 by CPU time and sometimes gives up on a fast hash: retried. */
function qemuRetry(...args: string[]): void {
  for (let attempt = 1; ; attempt++) {
    const run = spawnSync('qemu-img', args, { encoding: 'utf8' });
    if (run.status === 0) return;
    if (attempt >= 40 || !run.stderr.includes('Unable to get accurate CPU usage'))
      throw new Error(`qemu-img ${args.join(' ')}: ${run.stderr}`);
  }
}

const fixtures = cachedFixtures('diskimg-luks', import.meta.url, (dir) => {
  writeFileSync(join(dir, 'pass.txt'), `${PASS}\n`);
  const made = COMBOS.map(([name, options, size], i) => {
    const file = join(dir, `v${i}.luks`);
    qemuRetry(
      'create',
      '-q',
      '-f',
      'luks',
      '--object',
      SECRET,
      '-o',
      `key-secret=s0,iter-time=10${options ? `,${options}` : ''}`,
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
        'write -z 1100k 64k',
      ],
      { stdio: 'ignore' },
    );
    const raw = `${file}.qemu.raw`;
    qemuImgOk('convert', '--object', SECRET, '--image-opts', imageOpts(file), '-O', 'raw', raw);
    return { name, file, raw, pass: join(dir, 'pass.txt') };
  });
  // A LUKS1 volume cryptsetup made (its defaults: aes-xts-plain64, sha256), written by qemu-io.
  if (spawnSync('sh', ['-c', 'command -v cryptsetup']).status === 0) {
    const file = join(dir, 'cryptsetup.luks');
    const key = join(dir, 'key.bin');
    writeFileSync(key, PASS);
    execFileSync('truncate', ['-s', '6M', file]);
    execFileSync('cryptsetup', ['luksFormat', '-q', '--type', 'luks1', '--pbkdf-force-iterations', '1000', '--key-file', key, file], {
      stdio: 'ignore',
    });
    execFileSync('qemu-io', ['--object', SECRET, '--image-opts', imageOpts(file), '-c', 'write -P 3 0 64k', '-c', 'write -P 4 2M 1536'], {
      stdio: 'ignore',
    });
    const raw = `${file}.qemu.raw`;
    qemuImgOk('convert', '--object', SECRET, '--image-opts', imageOpts(file), '-O', 'raw', raw);
    made.push({ name: 'cryptsetup luks1', file, raw, pass: join(dir, 'pass.txt') });
  }
  return made;
});

describe('LUKS volumes qemu-img made', () => {
  for (const f of fixtures) {
    it(`${f.name}: raw byte-identical to qemu-img's, info and map identical`, async () => {
      const ours = `${f.raw}.${process.pid}.ours`;
      const run = await diskimg('convert', '--object', SECRET, '--image-opts', imageOpts(f.file), '-O', 'raw', ours);
      expect(run.stderr).toBe('');
      expect(firstDifference(ours, f.raw)).toBeNull();
      const viaFile = await diskimg('convert', '--passphrase-file', f.pass, '-O', 'raw', f.file, `${ours}2`);
      expect(viaFile.code).toBe(0);
      expect(firstDifference(`${ours}2`, f.raw)).toBeNull();
      for (const output of ['human', 'json']) {
        expect((await diskimg('info', `--output=${output}`, f.file)).stdout).toBe(qemuImgOk('info', `--output=${output}`, f.file));
      }
      expect((await diskimg('map', '--output=json', '--passphrase-file', f.pass, f.file)).stdout).toBe(
        qemuImgOk('map', '--output=json', '--object', SECRET, '--image-opts', imageOpts(f.file)),
      );
    });
  }

  it('refuses to convert without a passphrase, and with a wrong one, leaving no output', async () => {
    const f = fixtures[0];
    const out = `${f.raw}.${process.pid}.none`;
    const none = await diskimg('convert', '-O', 'raw', f.file, out);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("Parameter 'key-secret' is required for cipher");
    const wrong = await diskimg('convert', '--object', 'secret,id=s0,data=nope', '--image-opts', imageOpts(f.file), '-O', 'raw', out);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('Invalid password, cannot unlock any keyslot');
    expect(existsSync(out)).toBe(false);
  });
});
