/**
 * Compressed streams for the decoders file systems lean on, made by the real tools: LZO1X blocks
 * by lzop (the LZO library: Btrfs' lzo extents are the same instruction set) and zstd frames by
 * zstd (Btrfs' zstd extents, qcow2's zstd clusters). Each holds text, noise and long runs, so
 * literals, short and long matches and extended lengths are all there to be damaged.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import type { RecipeBook } from './tools.ts';

/** About 40 KiB: a text, then noise, then runs (every kind of LZO instruction appears). */
export function codecSample(): Buffer {
  const text = Buffer.from(Array.from({ length: 400 }, (_, i) => `line ${i} of a text that compresses, ${i % 97}\n`).join(''));
  const noise = Buffer.alloc(6000);
  let x = 12345;
  for (let i = 0; i < noise.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    noise[i] = x >>> 24;
  }
  return Buffer.concat([text, noise, Buffer.alloc(9000, 0), Buffer.alloc(3, 7), Buffer.alloc(5000, 0xaa), text.subarray(0, 4000)]);
}

function compressed(file: string, tool: string, args: string[]): void {
  const input = `${file}.in`;
  writeFileSync(input, codecSample());
  execFileSync(tool, [...args, '-q', '-f', '-o', file, input], { stdio: 'ignore' });
  rmSync(input);
}

export const codecRecipes: RecipeBook = {
  url: import.meta.url,
  tools: ['lzop', 'zstd'],
  recipes: {
    'lzo1x-1.lzo': (f) => compressed(f, 'lzop', ['-1']),
    'lzo1x-999.lzo': (f) => compressed(f, 'lzop', ['-9']),
    'zstd-3.zst': (f) => compressed(f, 'zstd', ['-3', '--no-check']),
    // Several frames, each with its checksum: zstd on each 8 KiB piece, the outputs one after another.
    'zstd-19-frames.zst': (f) => {
      const sample = codecSample();
      const frames: Buffer[] = [];
      for (let at = 0; at < sample.length; at += 8192)
        frames.push(execFileSync('zstd', ['-19', '-c', '-q'], { input: sample.subarray(at, at + 8192) }));
      writeFileSync(f, Buffer.concat(frames));
    },
  },
};
