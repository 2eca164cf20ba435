/**
 * streamOptimized VMDK output against qemu-img 7.2, for sources qemu-img made (raw with data runs
 * and holes, qcow2, compressible and incompressible data, sizes not a whole grain, a sparse disk
 * past 4 GiB, zeros written out): byte for byte qemu-img's file, but for the descriptor's CID, which
 * QEMU draws at random (g_random_int). The grains are deflated by pako with zlib's classic hash,
 * whose streams are zlib 1.2.13's (qemu-img's); a second test lays the file out from qemu-img's own
 * deflate bytes, so a zlib of another version there would show as a deflate difference only.
 * qemu-img info, check and compare read every output, and our reader too; 7-Zip reads the stream
 * form (it refuses qemu-img's layout, which has no grain-directory marker, for qemu-img's own file
 * as for ours).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertToStreamOptimizedVmdk } from '../../src/core/formats/vmdk/write/convert.ts';
import { mixedRaw, pattern } from './fixtures.ts';
import { diskimg, qemuImg, qemuImgOk } from './support.ts';
import type { ClusterCompressor } from '../../src/core/codecs/compress.ts';
import { NodeFileSink } from '../../src/node/file-sink.ts';
import { open, qemuIo, scratchDir } from '../support/qemu.ts';
import { AppendOnlyFileSink } from '../support/append-only-sink.ts';

const MiB = 1024 * 1024;
let dir: string;

/** A raw disk with data runs and holes whose size is neither whole grains nor whole sectors. */
function holesRaw(file: string): string {
  const fd = openSync(file, 'w');
  const put = (at: number, bytes: Buffer) => writeSync(fd, bytes, 0, bytes.length, at);
  put(0, pattern('text', 300_000, 1));
  put(5 * MiB + 4096, pattern('random', 200_000, 2));
  put(17 * MiB, pattern('text', MiB, 3));
  put(33 * MiB - 512, pattern('random', 1024, 4));
  const size = 40 * MiB + 1536 + 300;
  put(size - 100, pattern('text', 100, 5));
  closeSync(fd);
  return file;
}

interface Grain {
  sector: number;
  lba: bigint;
  size: number;
}

/** The grains a qemu-layout streamOptimized file's grain directory and tables point at. */
function grainsOf(bytes: Buffer): Grain[] {
  const capacity = Number(bytes.readBigUInt64LE(12));
  const gdOffset = Number(bytes.readBigUInt64LE(56));
  const gtCount = Math.ceil(capacity / 128 / 512);
  const grains: Grain[] = [];
  for (let t = 0; t < gtCount; t++) {
    const gt = bytes.readUInt32LE(gdOffset * 512 + t * 4);
    for (let i = 0; i < 512; i++) {
      const sector = bytes.readUInt32LE(gt * 512 + i * 4);
      if (sector !== 0) grains.push({ sector, lba: bytes.readBigUInt64LE(sector * 512), size: bytes.readUInt32LE(sector * 512 + 8) });
    }
  }
  return grains;
}

/**
 * The descriptor (sectors 1 to 20) up to its terminating NUL, with its CID masked. qemu-img draws
 * the CID twice (at create, then again when it closes the image it wrote) and rewrites the text in
 * place: when the second CID has fewer hex digits, the old text's last byte stays after the NUL —
 * randomness too, so only the text up to the NUL is compared.
 */
const descriptorOf = (bytes: Buffer) => {
  const text = bytes.subarray(512, 21 * 512).toString('latin1');
  const end = text.indexOf('\0');
  return (end < 0 ? text : text.slice(0, end)).replace(/^CID=[0-9a-f]+$/m, 'CID=<random>');
};

/**
 * Asserts ours is qemu-img's file but for the descriptor's CID: same header, same descriptor once
 * the CID is masked, every byte from the grain directories on the same (tables, grain markers,
 * deflate streams, padding, length).
 */
function expectSameAsQemu(qemuFile: string, ourFile: string): void {
  const qemu = readFileSync(qemuFile);
  const ours = readFileSync(ourFile);
  expect(ours.subarray(0, 512).equals(qemu.subarray(0, 512))).toBe(true);
  expect(descriptorOf(ours)).toBe(descriptorOf(qemu));
  expect(ours.length).toBe(qemu.length);
  const after = 21 * 512;
  const differs = ours.subarray(after).findIndex((byte, i) => byte !== qemu[after + i]);
  expect(differs < 0 ? null : after + differs).toBeNull();
  // Every grain inflates to what qemu-img's does (a stronger message when the above fails).
  const inflated = (bytes: Buffer, g: Grain) => inflateSync(bytes.subarray(g.sector * 512 + 12, g.sector * 512 + 12 + g.size));
  const mine = grainsOf(ours);
  grainsOf(qemu).forEach((grain, i) => expect(inflated(ours, mine[i]).equals(inflated(qemu, grain))).toBe(true));
}

/**
 * A compressor that hands back, grain by grain, the deflate bytes qemu-img wrote (after checking
 * they inflate to the grain asked for): with them our writer must lay out qemu-img's file exactly.
 */
function replaying(qemuFile: string): ClusterCompressor {
  const qemu = readFileSync(qemuFile);
  const queue = grainsOf(qemu).map((g) => qemu.subarray(g.sector * 512 + 12, g.sector * 512 + 12 + g.size));
  return {
    async compress(grain) {
      const next = queue.shift();
      if (!next) throw new Error('more grains than qemu-img wrote');
      if (!inflateSync(next).equals(Buffer.from(grain.buffer, grain.byteOffset, grain.length)))
        throw new Error('grain differs from the one qemu-img wrote there');
      return new Uint8Array(next);
    },
  };
}

const info = (file: string) => JSON.parse(qemuImgOk('info', '--output=json', file));

/** qemu-img info, check and compare, on one output. */
function expectReadsAsSource(source: string, output: string): void {
  const facts = info(output);
  expect(facts.format).toBe('vmdk');
  expect(facts['format-specific'].data['create-type']).toBe('streamOptimized');
  expect(facts['virtual-size']).toBe(info(source)['virtual-size']);
  expect(qemuImg('check', output).code).toBe(0);
  const compared = qemuImg('compare', source, output);
  expect(compared.stdout + compared.stderr).toContain('Images are identical');
  expect(compared.code).toBe(0);
}

function sevenZipTest(file: string): { ok: boolean; output: string } {
  const run = spawnSync('7z', ['t', file], { encoding: 'utf8' });
  return { ok: run.status === 0 && run.stdout.includes('Everything is Ok'), output: run.stdout + run.stderr };
}

interface Source {
  name: string;
  file: string;
}
const sources: Source[] = [];

beforeAll(() => {
  dir = scratchDir('diskimg-vmdk-write-');
  const f = (name: string) => join(dir, name);
  holesRaw(f('holes.raw'));
  sources.push({ name: 'raw with holes, 40 MiB + 1836 bytes', file: f('holes.raw') });
  qemuImgOk('convert', '-f', 'raw', '-O', 'qcow2', f('holes.raw'), f('holes.qcow2'));
  sources.push({ name: 'qcow2 of it', file: f('holes.qcow2') });
  mixedRaw(f('mixed.raw'), 6 * MiB + 3 * 512, 11);
  sources.push({ name: 'text, random and zero runs, 6 MiB + 3 sectors', file: f('mixed.raw') });
  writeFileSync(f('text.raw'), pattern('text', 2 * MiB, 9));
  sources.push({ name: 'compressible only, 2 MiB', file: f('text.raw') });
  qemuImgOk('create', '-f', 'qcow2', f('big.qcow2'), '5G');
  qemuIo(f('big.qcow2'), 'write -P 0x5a 0 64k', 'write -P 0x33 4095M 2M', 'write -P 0x11 5119M 1M');
  sources.push({ name: 'sparse qcow2 of 5 GiB, data past 4 GiB', file: f('big.qcow2') });
  writeFileSync(f('zeros.raw'), Buffer.alloc(3 * MiB));
  sources.push({ name: 'zeros written out, 3 MiB', file: f('zeros.raw') });
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Converts with qemu-img and with diskimg, each into its own folder under the same name. */
async function both(
  source: string,
  tag: string,
  options = 'subformat=streamOptimized',
  extra: string[] = [],
): Promise<{ qemu: string; ours: string }> {
  mkdirSync(join(dir, tag, 'qemu'), { recursive: true });
  mkdirSync(join(dir, tag, 'ours'), { recursive: true });
  const qemu = join(dir, tag, 'qemu', 'disk.vmdk');
  const ours = join(dir, tag, 'ours', 'disk.vmdk');
  qemuImgOk('convert', '-O', 'vmdk', '-o', options, source, qemu);
  const run = await diskimg('convert', '-O', 'vmdk', '-o', options, ...extra, source, ours);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return { qemu, ours };
}

describe('convert -O vmdk -o subformat=streamOptimized', () => {
  it('comes out as qemu-img writes it but for the CID, and reads back as the source, for every source', async () => {
    for (const [index, source] of sources.entries()) {
      const { qemu, ours } = await both(source.file, `source${index}`);
      expectSameAsQemu(qemu, ours);
      expectReadsAsSource(source.file, ours);
      const compared = await diskimg('compare', source.file, ours);
      expect(compared.stdout, source.name).toContain('Images are identical');
    }
  }, 300_000);

  it("lays the file out byte for byte as qemu-img does, given qemu-img's deflate bytes and CID", async () => {
    for (const [index, source] of sources.entries()) {
      const qemu = join(dir, `source${index}`, 'qemu', 'disk.vmdk');
      const replayed = join(dir, `source${index}`, 'replayed', 'disk.vmdk');
      mkdirSync(join(dir, `source${index}`, 'replayed'), { recursive: true });
      const cid = parseInt(
        /^CID=([0-9a-f]+)$/m.exec(
          readFileSync(qemu)
            .subarray(512, 21 * 512)
            .toString('latin1'),
        )![1],
        16,
      );
      const image = await open(source.file);
      const sink = await NodeFileSink.create(replayed);
      try {
        const result = await convertToStreamOptimizedVmdk(image, sink, {
          compressor: replaying(qemu),
          settings: { adapterType: 'ide', hwVersion: '4', toolsVersion: '2147483647', zeroedGrain: false, cid, extentName: 'disk.vmdk' },
        });
        expect(result.layout).toBe('qemu');
      } finally {
        await sink.close();
        await image.close();
      }
      // The same CID, so the same bytes but for what qemu's second CID left after the text's end.
      expectSameAsQemu(qemu, replayed);
    }
  }, 300_000);

  it('deflates the same on one thread as on the pool', async () => {
    const { ours } = await both(sources[2].file, 'threads-pool');
    const single = join(dir, 'threads-pool', 'ours', 'single.vmdk');
    expect(
      (await diskimg('convert', '-O', 'vmdk', '-o', 'subformat=streamOptimized', '--threads', '1', sources[2].file, single)).code,
    ).toBe(0);
    const a = readFileSync(ours);
    const b = readFileSync(single);
    // Same CID masking; the name in the descriptor differs by file name.
    expect(descriptorOf(b).replace('single.vmdk', 'disk.vmdk')).toBe(descriptorOf(a));
    expect(b.subarray(21 * 512).equals(a.subarray(21 * 512))).toBe(true);
  }, 120_000);

  it('takes qemu-img options into the header and descriptor as qemu-img does', async () => {
    for (const [index, options] of [
      'adapter_type=lsilogic,hwversion=7,toolsversion=10304',
      'adapter_type=buslogic,compat6=on,zeroed_grain=on',
      'adapter_type=legacyESX,toolsversion=x',
    ].entries()) {
      const { qemu, ours } = await both(sources[3].file, `options${index}`, `subformat=streamOptimized,${options}`);
      expectSameAsQemu(qemu, ours);
      expectReadsAsSource(sources[3].file, ours);
    }
  }, 120_000);

  it("refuses bad options with qemu-img's words", async () => {
    const source = sources[3].file;
    const target = join(dir, 'bad.vmdk');
    for (const options of [
      'adapter_type=scsi',
      'subformat=bogus',
      'compat6=maybe',
      'zeroed_grain=2',
      'compat6=on,hwversion=6',
      'foo=bar',
    ]) {
      const expected = qemuImg('convert', '-O', 'vmdk', '-o', `subformat=streamOptimized,${options}`, source, target);
      rmSync(target, { force: true });
      const run = await diskimg('convert', '-O', 'vmdk', '-o', `subformat=streamOptimized,${options}`, source, target);
      expect(expected.code, options).toBe(1);
      expect(run.code, options).toBe(1);
      expect(run.stderr, options).toBe(expected.stderr.replace(/^qemu-img: /, 'diskimg: '));
    }
  });

  it('says what it does not write: an empty source', async () => {
    const target = join(dir, 'other.vmdk');
    const empty = join(dir, 'empty.raw');
    writeFileSync(empty, '');
    // qemu-img writes one, then cannot open it.
    expect(qemuImg('convert', '-O', 'vmdk', '-o', 'subformat=streamOptimized', empty, join(dir, 'empty-qemu.vmdk')).stderr).toContain(
      "Unsupported image type 'streamOptimized'",
    );
    const run = await diskimg('convert', '-O', 'vmdk', '-o', 'subformat=streamOptimized', empty, target);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('A streamOptimized VMDK of 0 bytes cannot be opened');
    expect(() => statSync(target)).toThrow();
  });

  it("7-Zip refuses qemu-img's layout, qemu-img's own file as ours", async () => {
    const { qemu, ours } = await both(sources[3].file, 'seven');
    expect(sevenZipTest(qemu).ok).toBe(false);
    expect(sevenZipTest(ours).ok).toBe(false);
  });
});

describe('the stream form, on an append-only sink', () => {
  it('is written in one pass in order, with the grain directory at the end; qemu-img, 7-Zip and our reader read it', async () => {
    for (const source of [sources[0], sources[2], sources[4]]) {
      const output = join(dir, `stream-${sources.indexOf(source)}.vmdk`);
      const image = await open(source.file);
      const sink = new AppendOnlyFileSink(output);
      try {
        const result = await convertToStreamOptimizedVmdk(image, sink, {
          settings: {
            adapterType: 'lsilogic',
            hwVersion: '4',
            toolsVersion: '2147483647',
            zeroedGrain: false,
            cid: 0x1234abcd,
            extentName: 'disk.vmdk',
          },
        });
        expect(result.layout).toBe('stream');
        expect(result.length).toBe(sink.length);
      } finally {
        await sink.close();
        await image.close();
      }
      const bytes = readFileSync(output);
      // GD_AT_END in the header; footer marker, footer, end-of-stream marker at the end.
      expect(bytes.readBigUInt64LE(56)).toBe(0xffffffffffffffffn);
      const footer = bytes.length - 1536;
      expect([bytes.readBigUInt64LE(footer), bytes.readUInt32LE(footer + 12)]).toEqual([1n, 3]);
      expect(bytes.subarray(footer + 512, footer + 516).toString('latin1')).toBe('KDMV');
      expect(bytes.subarray(footer + 1024).every((byte) => byte === 0)).toBe(true);
      expectReadsAsSource(source.file, output);
      const seven = sevenZipTest(output);
      expect(seven.ok, seven.output).toBe(true);
      const ours = await diskimg('compare', source.file, output);
      expect(ours.stdout).toContain('Images are identical');
    }
  }, 300_000);
});
