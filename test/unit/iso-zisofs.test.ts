/**
 * zisofs streams built in memory (as xorriso lays them out), then damaged: every lie in a header
 * or a block pointer table is a DiskImgError naming the file and the block, found before any
 * allocation it would cause.
 */
import { randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { readZisofs, type Zisofs } from '../../src/core/iso/zisofs.ts';

const V1 = [0x37, 0xe4, 0x53, 0x96, 0xc9, 0xdb, 0xd6, 0x07];
const V2 = [0xef, 0x22, 0x55, 0xa1, 0xbc, 0x1b, 0x95, 0xa0];

/** A stored zisofs stream of `data` in blocks of 2^log2 (empty blocks for all-zero ones, as xorriso writes them). */
function stream(data: Buffer, log2: number, v2: boolean): Buffer {
  const blockSize = 2 ** log2;
  const blocks = Math.ceil(data.length / blockSize);
  const header = Buffer.alloc(v2 ? 24 : 16);
  Buffer.from(v2 ? V2 : V1).copy(header);
  if (v2) {
    header[9] = 6;
    header[10] = 1;
    header[11] = log2;
    header.writeBigUInt64LE(BigInt(data.length), 12);
  } else {
    header.writeUInt32LE(data.length, 8);
    header[12] = 4;
    header[13] = log2;
  }
  const size = v2 ? 8 : 4;
  const table = Buffer.alloc(size * (blocks + 1));
  const parts: Buffer[] = [];
  let at = header.length + table.length;
  for (let i = 0; i <= blocks; i++) {
    if (v2) table.writeBigUInt64LE(BigInt(at), i * size);
    else table.writeUInt32LE(at, i * size);
    if (i === blocks) break;
    const block = data.subarray(i * blockSize, (i + 1) * blockSize);
    if (block.every((b) => b === 0)) continue;
    const compressed = deflateSync(block);
    parts.push(compressed);
    at += compressed.length;
  }
  return Buffer.concat([header, table, ...parts]);
}

function codec(stored: Buffer, size: number, log2: number, v2: boolean): Zisofs {
  return { algorithm: v2 ? 'PZ' : 'pz', entry: 'ZF', headerSize: v2 ? 24 : 16, blockLog2: log2, size, stored: stored.length };
}

async function decode(stored: Buffer, z: Zisofs, start = 0, length = z.size): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of readZisofs(z, '/f', async (offset, n) => stored.subarray(offset, offset + n), start, length)) parts.push(chunk);
  return Buffer.concat(parts);
}

const data = Buffer.concat([Buffer.from('hello\n'.repeat(20_000)), Buffer.alloc(70_000), Buffer.from('tail\n'.repeat(3000))]);

describe('zisofs streams', () => {
  for (const v2 of [false, true]) {
    it(`v${v2 ? 2 : 1}: whole, and any range, equal the original`, async () => {
      const stored = stream(data, 15, v2);
      const z = codec(stored, data.length, 15, v2);
      expect((await decode(stored, z)).equals(data)).toBe(true);
      expect((await decode(stored, z, 32_000, 100_000)).equals(data.subarray(32_000, 132_000))).toBe(true);
      expect((await decode(stored, z, data.length - 3, 10)).equals(data.subarray(data.length - 3))).toBe(true);
    });
  }

  const damaged = async (edit: (stored: Buffer, z: Zisofs) => void, message: RegExp, v2 = false) => {
    const stored = stream(data, 15, v2);
    const z = codec(stored, data.length, 15, v2);
    edit(stored, z);
    const error = await decode(stored, z).catch((e) => e);
    expect(error).toBeInstanceOf(DiskImgError);
    expect(error.message).toMatch(message);
    return error as DiskImgError;
  };

  it('a header that disagrees with the Rock Ridge entry, or is no zisofs, is named', async () => {
    await damaged((s) => (s[0] = 0), /^zisofs file \/f: no zisofs magic/);
    await damaged((s) => (s[13] = 16), /block size 2\^16 differs from the Rock Ridge entry's 2\^15/);
    await damaged((s) => s.writeUInt32LE(5, 8), /the header's size 5 differs from the Rock Ridge entry's/);
    await damaged((_, z) => (z.headerSize = 8), /header size 8 is not between 16 and 1024/);
    await damaged((s) => (s[10] = 4), /^zisofs2 file \/f: compression algorithm 4 is not supported/, true);
  });

  it('a v2 pointer beyond 2^32 is past the stored file, not a huge read', async () => {
    const error = await damaged(
      (s) => s.writeBigUInt64LE(1n << 40n, 24 + 8 * 2),
      /block 1 ends at byte 1099511627776, past the end of the stored file/,
      true,
    );
    expect(error.context).toMatchObject({ file: '/f', block: 1 });
  });

  it('a block pointing into the header, one that inflates short, and one longer than a block can be compressed', async () => {
    await damaged((s) => s.writeUInt32LE(4, 16), /block 0 starts at byte 4, outside the data/);
    // Block 1 given block 0's data: it inflates to 32768 bytes, but so does block 0; give the last block (short) a full one instead.
    await damaged((s) => {
      const blocks = Math.ceil(data.length / 32768);
      const last = s.readUInt32LE(16 + 4 * (blocks - 1));
      const short = deflateSync(Buffer.from('x'));
      short.copy(s, last);
    }, /block \d+ does not inflate to its \d+ bytes/);
  });

  it('a block longer than any compressed block of its size is refused before it is read', async () => {
    // Incompressible data: each block is stored, a little longer than 32 KiB; block 0 made to span three.
    const noise = randomBytes(4 * 32768);
    const stored = stream(noise, 15, false);
    stored.writeUInt32LE(stored.readUInt32LE(16 + 4 * 3), 16 + 4 * 1);
    const error = await decode(stored, codec(stored, noise.length, 15, false)).catch((e) => e);
    expect(error.message).toMatch(/^zisofs file \/f: block 0 is \d+ bytes compressed, more than a 32768-byte block can take$/);
  });
});
