/**
 * Checksums over a Storage (against Node's crypto and coreutils' text formats) and the check of
 * pasted SHA256SUMS-style text: GNU lines, binary-mode stars, BSD tags, CRLF, a bare hash.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checksums, checksumsOnThread, parseSums, verifySums, type HashingThread, type HashName } from '../../src/core/iso/checksums.ts';
import { wasmHashers } from '../../src/core/iso/wasm-hashers.ts';
import { MemoryStorage } from '../../src/core/storage/storage.ts';
import { nodeHashers } from '../../src/node/hashers.ts';

const content = new Uint8Array(9 << 20).map((_, i) => (i * 131) >>> 3);
const hex = (name: string) => createHash(name).update(content).digest('hex');

/**
 * A hashing thread as the page's hash worker behaves: each chunk's buffer is transferred away
 * (detached here, as postMessage does), hashed later, and handed back as a new ArrayBuffer.
 */
function fakeThread(names: HashName[]): HashingThread & { buffersSeen: Set<number>; inFlightMax: number } {
  const hashers = names.map((name) => [name, createHash(name)] as const);
  let queue = Promise.resolve();
  let inFlight = 0;
  const thread = {
    buffersSeen: new Set<number>(),
    inFlightMax: 0,
    update(chunk: Uint8Array): Promise<ArrayBuffer> {
      const length = chunk.length;
      const moved = structuredClone(chunk.buffer as ArrayBuffer, { transfer: [chunk.buffer as ArrayBuffer] });
      thread.inFlightMax = Math.max(thread.inFlightMax, ++inFlight);
      const done = queue.then(async () => {
        await new Promise((r) => setTimeout(r, 1));
        for (const [, hash] of hashers) hash.update(new Uint8Array(moved, 0, length));
        inFlight--;
        thread.buffersSeen.add(moved.byteLength);
        return structuredClone(moved, { transfer: [moved] });
      });
      queue = done.then(() => {});
      return done;
    },
    digest: async () => Object.fromEntries(hashers.map(([name, hash]) => [name, hash.digest('hex')])),
  };
  return thread;
}

describe('checksums on a hashing thread', () => {
  it('equals the one-thread checksums, with reads ahead of the hashing and three buffers going round', async () => {
    const progress: number[] = [];
    const thread = fakeThread(['sha256']);
    const sums = await checksumsOnThread(new MemoryStorage(content, 'disc.iso'), thread, (done) => progress.push(done));
    expect(sums).toEqual({ sha256: hex('sha256') });
    expect(progress).toEqual([4 << 20, 8 << 20, 9 << 20]);
    expect(thread.inFlightMax).toBeGreaterThan(1);
    expect(thread.inFlightMax).toBeLessThanOrEqual(3);
  });

  it('SHA-1 and MD5 on request, and an empty file', async () => {
    expect(await checksumsOnThread(new MemoryStorage(content, 'disc.iso'), fakeThread(['sha1', 'md5']))).toEqual({
      sha1: hex('sha1'),
      md5: hex('md5'),
    });
    const empty = createHash('sha256').digest('hex');
    expect(await checksumsOnThread(new MemoryStorage(new Uint8Array(0), 'e.iso'), fakeThread(['sha256']))).toEqual({ sha256: empty });
  });

  it('fails with the thread’s error, not a hang', async () => {
    const thread = fakeThread(['sha256']);
    thread.update = () => Promise.reject(new Error('hashing worker failed: out of memory'));
    await expect(checksumsOnThread(new MemoryStorage(content, 'disc.iso'), thread)).rejects.toThrow('hashing worker failed: out of memory');
  });
});

describe('checksums', () => {
  it('SHA-256, SHA-1 and MD5 in one pass, with progress up to the size', async () => {
    const progress: number[] = [];
    const sums = await checksums(new MemoryStorage(content, 'disc.iso'), ['sha256', 'sha1', 'md5'], nodeHashers, (done, total) => {
      expect(total).toBe(content.length);
      progress.push(done);
    });
    expect(sums).toEqual({ sha256: hex('sha256'), sha1: hex('sha1'), md5: hex('md5') });
    expect(progress).toEqual([4 << 20, 8 << 20, 9 << 20]);
  });

  it('the WebAssembly hashers (the page’s) agree with Node’s', async () => {
    const storage = new MemoryStorage(content, 'disc.iso');
    expect(await checksums(storage, ['sha256', 'sha1', 'md5'], wasmHashers)).toEqual({
      sha256: hex('sha256'),
      sha1: hex('sha1'),
      md5: hex('md5'),
    });
  });

  it('an empty image has the empty hashes', async () => {
    expect(await checksums(new MemoryStorage(new Uint8Array(0)), ['sha256'], nodeHashers)).toEqual({
      sha256: createHash('sha256').digest('hex'),
    });
  });
});

describe('SHA256SUMS text', () => {
  const sha256 = hex('sha256');
  const sums = { sha256, sha1: hex('sha1'), md5: hex('md5') };

  it('parses GNU, binary-mode and BSD lines, ignoring comments, blanks and signatures', () => {
    const text = [
      '-----BEGIN PGP SIGNED MESSAGE-----',
      '# comment',
      '',
      `${sha256.toUpperCase()}  debian-12.iso\r`,
      `${sums.sha1} *./sub/debian 12.iso`,
      `MD5 (debian-12.iso) = ${sums.md5}`,
      `SHA256 (other.iso) = ${'0'.repeat(64)}`,
      'not a hash line',
    ].join('\n');
    expect(parseSums(text)).toEqual([
      { hash: sha256, name: 'debian-12.iso', algorithm: 'sha256' },
      { hash: sums.sha1, name: './sub/debian 12.iso', algorithm: 'sha1' },
      { hash: sums.md5, name: 'debian-12.iso', algorithm: 'md5' },
      { hash: '0'.repeat(64), name: 'other.iso', algorithm: 'sha256' },
    ]);
  });

  it('says match, mismatch or not listed for a file name', () => {
    const text = `${'1'.repeat(64)}  other.iso\n${sha256}  debian-12.iso\n`;
    expect(verifySums(text, 'debian-12.iso', sums)).toEqual({ status: 'match', algorithm: 'sha256', expected: sha256, actual: sha256 });
    expect(verifySums(text, 'other.iso', sums)).toEqual({
      status: 'mismatch',
      algorithm: 'sha256',
      expected: '1'.repeat(64),
      actual: sha256,
    });
    expect(verifySums(`${'1'.repeat(64)}  other.iso\n`, 'missing.iso', sums)).toEqual({ status: 'not-listed' });
    // The right checksum under another name (the download was renamed): said, not 'not listed'.
    expect(verifySums(text, 'renamed.iso', sums)).toEqual({ status: 'listed-as', algorithm: 'sha256', name: 'debian-12.iso' });
    // A path in the list matches by its last part; the binary-mode star is not part of the name.
    expect(verifySums(`${sums.sha1} *./sub/debian 12.iso`, 'debian 12.iso', sums)).toMatchObject({ status: 'match', algorithm: 'sha1' });
    // BSD style, and a lone bare hash (what a download page shows).
    expect(verifySums(`SHA256 (debian-12.iso) = ${sha256}`, 'debian-12.iso', sums)).toMatchObject({ status: 'match' });
    expect(verifySums(`  ${sums.md5}  \n`, 'anything.iso', sums)).toMatchObject({ status: 'match', algorithm: 'md5' });
    // A line whose algorithm was not computed cannot decide.
    expect(verifySums(`${sums.md5}  debian-12.iso`, 'debian-12.iso', { sha256 })).toEqual({ status: 'not-listed' });
  });
});
