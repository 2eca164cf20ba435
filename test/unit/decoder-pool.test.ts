/**
 * The decoding pool the page gives its qcow2 reader: clusters of real qemu-img images decoded on
 * "threads" that get their batches as a Web Worker does (buffers transferred, so the pool can no
 * longer touch them), and the same clear error as in-thread decoding for a damaged cluster.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { portableDecoders } from '../../src/core/codecs/decoders.ts';
import {
  DecoderPool,
  decodeBatch,
  type DecodeReply,
  type DecodeRequest,
  type StartDecodeThread,
} from '../../src/core/codecs/decoder-pool.ts';
import { copy, firstL2, open, patch, qemuImg, readAll, readBE64, readFailure, scratchDir } from '../support/qemu.ts';

let dir: string;
let raw: string;
const images: Record<'zlib' | 'zstd', string> = { zlib: '', zstd: '' };

beforeAll(() => {
  dir = scratchDir();
  raw = join(dir, 'source.raw');
  // Text, a patterned run and zeros: 3 MiB, so one 4 MiB read holds all its compressed clusters.
  const bytes = Buffer.alloc(3 << 20);
  bytes.write('decoded on a pool thread '.repeat(40000), 0);
  for (let i = 2 << 20; i < (2 << 20) + (256 << 10); i++) bytes[i] = (i * 2654435761) >>> 24;
  writeFileSync(raw, bytes);
  images.zlib = join(dir, 'zlib.qcow2');
  qemuImg('convert', '-q', '-c', '-f', 'raw', '-O', 'qcow2', raw, images.zlib);
  images.zstd = join(dir, 'zstd.qcow2');
  qemuImg('convert', '-q', '-c', '-o', 'compression_type=zstd', '-f', 'raw', '-O', 'qcow2', raw, images.zstd);
});

/** Batches each thread got, by size; and whether a thread's buffers were still the pool's after posting. */
let batches: number[];
let pool: DecoderPool | undefined;

/**
 * Threads in this process that answer later, as a worker does: the request is moved with
 * structuredClone and a transfer list (the pool's buffers are detached, as postMessage leaves them).
 */
function inProcessThreads(fail?: Error): StartDecodeThread {
  return (onReply, onError) => {
    const portable = portableDecoders();
    const decoders = {
      zlib: { name: 'zlib: test thread', decode: portable.zlib },
      zstd: { name: 'zstd: test thread', decode: portable.zstd },
    };
    return {
      post(request: DecodeRequest) {
        const moved = structuredClone(request, { transfer: [request.input, request.output] });
        expect(request.input.byteLength).toBe(0); // detached: the pool kept no hold on it
        batches.push(moved.ids.length);
        setTimeout(() => {
          if (fail) return onError(fail);
          const reply: DecodeReply = decodeBatch(moved, decoders);
          onReply(structuredClone(reply, { transfer: [reply.input, reply.output] }));
        }, 1);
      },
      terminate() {},
    };
  };
}

afterEach(async () => {
  await pool?.close();
  pool = undefined;
  batches = [];
});

describe('decoding on a pool', () => {
  for (const codec of ['zlib', 'zstd'] as const) {
    it(`reads a ${codec}-compressed qcow2 with every cluster decoded on the threads`, async () => {
      batches = [];
      pool = new DecoderPool(2, inProcessThreads(), (flush) => setTimeout(flush, 0));
      const image = await open(images[codec], { decoders: pool.decoders });
      let compressed = 0;
      for await (const extent of image.mappings()) if (extent.kind === 'compressed') compressed++;
      const bytes = await readAll(image).finally(() => image.close());
      expect(Buffer.from(bytes).equals(readFileSync(raw))).toBe(true);
      expect(compressed).toBeGreaterThanOrEqual(16); // the text's clusters at least
      expect(pool.decodedOnThreads.clusters).toBe(compressed);
      expect([...pool.decodedOnThreads.decoders]).toEqual([`${codec}: test thread`]);
      // Several clusters in flight at once: they went in batches, not one message each.
      expect(Math.max(...batches)).toBeGreaterThan(1);
    });
  }

  it('says which compressed cluster does not decompress, as in-thread decoding does', async () => {
    const file = copy(images.zlib, join(dir, 'bad-deflate.qcow2'));
    const { l2 } = firstL2(file);
    const hostOffset = Number(readBE64(file, l2) & ((1n << 54n) - 1n));
    patch(file, hostOffset, new Array(64).fill(0xff));
    const inThread = await readFailure(file);
    batches = [];
    pool = new DecoderPool(2, inProcessThreads(), (flush) => setTimeout(flush, 0));
    const onPool = await readFailure(file, { decoders: pool.decoders });
    expect(onPool.kind).toBe('corrupt');
    expect(onPool.message).toMatch(
      /^Compressed cluster at host offset 0x[0-9a-f]+ \(guest offset 0x0\) does not decompress \(zlib\) to 65536 bytes$/,
    );
    expect(onPool.context.offset).toBe(hostOffset);
    expect(onPool.message).toBe(inThread.message);
    expect(batches.length).toBeGreaterThan(0);
  });

  it('fails a cluster still waiting when the pool is closed, and refuses later ones', async () => {
    batches = [];
    pool = new DecoderPool(1, inProcessThreads(), () => {}); // part-filled batches never go out
    const waiting = pool.decode('zlib', new Uint8Array(8), new Uint8Array(65536));
    await pool.close();
    await expect(waiting).rejects.toThrow('the decoding threads were closed');
    await expect(pool.decode('zlib', new Uint8Array(8), new Uint8Array(65536))).rejects.toThrow('closed');
  });

  it('fails the read, not hangs, when a thread dies', async () => {
    batches = [];
    pool = new DecoderPool(2, inProcessThreads(new Error('decoding worker failed: out of memory')), (flush) => setTimeout(flush, 0));
    const image = await open(images.zstd, { decoders: pool.decoders });
    await expect(readAll(image).finally(() => image.close())).rejects.toThrow('decoding worker failed: out of memory');
    // Later clusters are refused at once rather than queued for a thread that is gone.
    await expect(pool.decode('zstd', new Uint8Array(8), new Uint8Array(65536))).rejects.toThrow('out of memory');
  });
});
