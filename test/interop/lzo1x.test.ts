/**
 * The LZO1X decoder Btrfs' lzo extents go through, against lzop (the real LZO library): text,
 * noise and runs compressed with LZO1X-1 (lzop -1) and LZO1X-999 (lzop -9) decode to the bytes
 * that went in. Hostile streams (a match before the start, a run past the output, a stream cut
 * short, an endless length) end in an error naming where, never outside the buffers.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lzo1xDecompress, LzoError } from '../../src/core/codecs/lzo1x.ts';

const scratch = mkdtempSync(join(tmpdir(), 'diskimg-lzo-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The LZO1X blocks of an lzop file (its header and per-block checksums skipped, as lzop's flags say). */
function lzopBlocks(file: Uint8Array): Array<{ compressed: Uint8Array; length: number }> {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let at = 9;
  const version = v.getUint16(at);
  at += 4 + (version >= 0x0940 ? 2 : 0);
  at += 1 + (version >= 0x0940 ? 1 : 0); // method, level
  const flags = v.getUint32(at);
  at += 4 + (flags & 0x800 ? 4 : 0) + 8 + (version >= 0x0940 ? 4 : 0); // filter, mode, mtime
  at += 1 + file[at] + 4; // name, header checksum
  if (flags & 0x40) throw new Error('lzop extra field not expected');
  const blocks: Array<{ compressed: Uint8Array; length: number }> = [];
  for (;;) {
    const length = v.getUint32(at);
    at += 4;
    if (length === 0) return blocks;
    const stored = v.getUint32(at);
    at += 4 + (flags & 1 ? 4 : 0) + (flags & 0x100 ? 4 : 0);
    if (stored < length) at += (flags & 2 ? 4 : 0) + (flags & 0x200 ? 4 : 0);
    blocks.push({ compressed: file.subarray(at, at + stored), length: stored < length ? length : -1 });
    at += stored;
  }
}

function sample(): Buffer {
  const text = Buffer.from('The quick brown fox jumps over the lazy dog; '.repeat(3000));
  const noise = Buffer.alloc(70_000);
  let x = 12345;
  for (let i = 0; i < noise.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    noise[i] = x >>> 24;
  }
  const runs = Buffer.concat([Buffer.alloc(40_000, 0), Buffer.alloc(3, 7), Buffer.alloc(70_000, 0xaa)]);
  return Buffer.concat([text, noise, runs, text.subarray(0, 9999)]);
}

describe('LZO1X against lzop', () => {
  for (const level of ['-1', '-9']) {
    it(`lzop ${level}: every block decodes to the bytes that went in`, () => {
      const input = join(scratch, `in${level}`);
      const data = sample();
      writeFileSync(input, data);
      execFileSync('lzop', [level, '-f', '-o', `${input}.lzo`, input]);
      const blocks = lzopBlocks(new Uint8Array(readFileSync(`${input}.lzo`)));
      const parts: Uint8Array[] = [];
      let compressedBlocks = 0;
      for (const block of blocks) {
        if (block.length < 0) {
          parts.push(block.compressed);
          continue;
        }
        compressedBlocks++;
        const out = new Uint8Array(block.length);
        expect(lzo1xDecompress(block.compressed, out)).toBe(block.length);
        parts.push(out);
      }
      expect(compressedBlocks).toBeGreaterThan(0);
      expect(Buffer.concat(parts).equals(data)).toBe(true);
    });
  }
});

describe('hostile LZO1X streams', () => {
  const refusal = (stream: number[], room = 64): string => {
    try {
      lzo1xDecompress(Uint8Array.from(stream), new Uint8Array(room));
    } catch (error) {
      expect(error).toBeInstanceOf(LzoError);
      return (error as Error).message;
    }
    throw new Error('decoded without error');
  };

  it('a match reaching before the start of the output', () => {
    // 3 literals, then a match 0x40 (length 3, distance (h<<3)+1) with h = 200.
    expect(refusal([20, 0x61, 0x62, 0x63, 0x40, 200])).toBe(
      'a match refers 1601 bytes back, before the start of the output (input byte 6, output byte 3)',
    );
  });

  it('a literal run past the end of the stream or of the output', () => {
    expect(refusal([30, 1, 2])).toBe('a literal run reaches past the end of the stream (input byte 1, output byte 0)');
    expect(refusal([30, ...new Array(13).fill(1)], 8)).toBe(
      'a literal run reaches past the end of the output (input byte 1, output byte 0)',
    );
  });

  it('a stream with no end marker, and a length of endless zero bytes', () => {
    expect(refusal([20, 0x61, 0x62, 0x63])).toBe('the stream ends early (input byte 4, output byte 3)');
    expect(refusal([0, ...new Array(1000).fill(0)])).toBe('a length runs beyond the output (input byte 3, output byte 0)');
  });
});
