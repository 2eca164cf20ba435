/**
 * The streaming ZIP writer against Python's zipfile and 7-Zip as readers: UTF-8 names, folders,
 * symlinks, CRCs, ZIP64 by entry count (always) and by size (> 4 GiB, opt-in with
 * DISKIMG_SLOW_TESTS=1: it writes 4 GiB to the temp folder).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { crc32Update, zipStream, type ZipInput } from '../../src/core/iso/zip.ts';

const scratch = mkdtempSync(join(tmpdir(), 'diskimg-zip-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function write(file: string, entries: AsyncIterable<ZipInput> | Iterable<ZipInput>): Promise<number> {
  const out = createWriteStream(file);
  let total = 0;
  const source = (async function* () {
    yield* entries;
  })();
  for await (const chunk of zipStream(source)) {
    total += chunk.length;
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  return total;
}

function python(script: string, ...args: string[]): string {
  const run = spawnSync('python3', ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  expect(run.stderr).toBe('');
  return run.stdout;
}

const bytes = (text: string) => new TextEncoder().encode(text);
const data = (...chunks: Uint8Array[]) =>
  async function* () {
    yield* chunks;
  };

describe('zip writer', () => {
  it('CRC-32 equals zlib’s over odd lengths and offsets', () => {
    const buffer = new Uint8Array(100_003);
    for (let i = 0; i < buffer.length; i++) buffer[i] = (i * 2654435761) >>> 24;
    for (const [from, to] of [
      [0, 0],
      [0, 1],
      [3, 20],
      [1, 100_003],
      [7, 65_543],
    ]) {
      expect(crc32Update(0, buffer.subarray(from, to))).toBe(crc32(buffer.subarray(from, to)));
    }
    expect(crc32Update(crc32Update(0, buffer.subarray(0, 5000)), buffer.subarray(5000))).toBe(crc32(buffer));
  });

  it('folders, UTF-8 names, symlinks and files read back with Python’s zipfile and test clean with 7-Zip', async () => {
    const file = join(scratch, 'small.zip');
    const big = new Uint8Array(1 << 20).map((_, i) => i * 7);
    await write(file, [
      { path: 'disc', type: 'dir', size: 0, modified: '2024-02-29T12:34:56Z' },
      { path: 'disc/Tiếng Việt', type: 'dir', size: 0 },
      {
        path: 'disc/Tiếng Việt/ổ đĩa ảo.txt',
        type: 'file',
        size: 9,
        data: data(bytes('xin '), bytes('chào')),
        modified: '2024-02-29T12:34:56+07:00',
      },
      { path: 'disc/empty', type: 'file', size: 0, data: data() },
      { path: 'disc/big.bin', type: 'file', size: big.length, data: data(big.subarray(0, 1000), big.subarray(1000)) },
      { path: 'disc/link', type: 'symlink', size: 0, target: 'Tiếng Việt' },
    ]);
    const out = python(
      `
import zipfile, sys, json
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
print(json.dumps([[i.filename, i.file_size, i.flag_bits & 0x800, i.external_attr >> 16, list(i.date_time), z.read(i).decode('latin1') if i.file_size < 100 else len(z.read(i))] for i in z.infolist()]))
`,
      file,
    );
    expect(JSON.parse(out)).toEqual([
      ['disc/', 0, 0x800, 0o40755, [2024, 2, 29, 12, 34, 56], ''],
      ['disc/Tiếng Việt/', 0, 0x800, 0o40755, [1980, 1, 1, 0, 0, 0], ''],
      ['disc/Tiếng Việt/ổ đĩa ảo.txt', 9, 0x800, 0o100644, [2024, 2, 29, 5, 34, 56], Buffer.from('xin chào').toString('latin1')],
      ['disc/empty', 0, 0x800, 0o100644, [1980, 1, 1, 0, 0, 0], ''],
      ['disc/big.bin', 1 << 20, 0x800, 0o100644, [1980, 1, 1, 0, 0, 0], 1 << 20],
      ['disc/link', 14, 0x800, 0o120777, [1980, 1, 1, 0, 0, 0], Buffer.from('Tiếng Việt').toString('latin1')],
    ]);
    expect(execFileSync('7z', ['t', file], { encoding: 'utf8' })).toMatch(/Everything is Ok/);
  });

  it('more than 65535 entries switch to ZIP64 end records', async () => {
    const file = join(scratch, 'many.zip');
    const count = 70_000;
    await write(
      file,
      (function* () {
        for (let i = 0; i < count; i++)
          yield { path: `f/${i}.txt`, type: 'file' as const, size: String(i).length, data: data(bytes(String(i))) };
      })(),
    );
    const out = python(
      `
import zipfile, sys
z = zipfile.ZipFile(sys.argv[1])
names = z.namelist()
print(len(names), z.read('f/0.txt').decode(), z.read('f/69999.txt').decode(), z.testzip())
raw = open(sys.argv[1], 'rb').read()
print(raw.rfind(b'PK\\x06\\x06') > 0, raw.rfind(b'PK\\x06\\x07') > 0)
`,
      file,
    );
    expect(out).toBe('70000 0 69999 None\nTrue True\n');
  }, 60_000);

  it('a file that gives fewer bytes than announced is refused, not zipped short', async () => {
    const run = async () => {
      for await (const _ of zipStream(
        (async function* () {
          yield { path: 'short.bin', type: 'file' as const, size: 10, data: data(bytes('abc')) };
        })(),
      ));
    };
    const error = await run().catch((e) => e);
    expect(error).toBeInstanceOf(DiskImgError);
    expect(error.kind).toBe('corrupt');
    expect(error.message).toBe('short.bin gave 3 bytes for the zip, not the 10 its entry announced');
  });

  it.runIf(process.env.DISKIMG_SLOW_TESTS === '1')(
    'a file over 4 GiB is stored with ZIP64 sizes (DISKIMG_SLOW_TESTS=1)',
    async () => {
      const file = join(scratch, 'huge.zip');
      const size = 4 * 2 ** 30 + 12345;
      const chunk = new Uint8Array(4 << 20).fill(0x5a);
      await write(file, [
        { path: 'first.txt', type: 'file', size: 5, data: data(bytes('first')) },
        {
          path: 'huge.bin',
          type: 'file',
          size,
          data: async function* () {
            for (let left = size; left > 0; left -= chunk.length) yield chunk.subarray(0, Math.min(left, chunk.length));
          },
        },
        { path: 'after.txt', type: 'file', size: 5, data: data(bytes('after')) },
      ]);
      const out = python(
        `
import zipfile, sys
z = zipfile.ZipFile(sys.argv[1])
print([(i.filename, i.file_size) for i in z.infolist()], z.read('after.txt').decode())
`,
        file,
      );
      expect(out).toBe(`[('first.txt', 5), ('huge.bin', ${size}), ('after.txt', 5)] after\n`);
      expect(execFileSync('7z', ['t', file], { encoding: 'utf8' })).toMatch(/Everything is Ok/);
      rmSync(file);
    },
    600_000,
  );
});
