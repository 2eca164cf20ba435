/**
 * What the fuzzer runs on each mutant, in-process and platform-free: open, info, map, check,
 * convert to raw and to qcow2 (the outputs counted, not kept) and, for discs, the disc reader
 * (ISO 9660, Rock Ridge, Joliet, El Torito, UDF): info, the whole walk, every file's bytes, the layout;
 * the file-system browser (FAT, exFAT, ext2/3/4, NTFS, XFS, Btrfs, through LVM2 and LUKS) on
 * whatever file system the disk holds; and the decoders of compressed extents (LZO1X, zstd frames)
 * on the streams lzop and zstd made.
 * A DiskImgError is the expected way to refuse a bad input; anything else is a finding.
 */
import { allocationPicture } from '../../src/core/allocation.ts';
import { checkImage } from '../../src/core/check.ts';
import { DiskImgError } from '../../src/core/errors.ts';
import { imageInfo } from '../../src/core/info.ts';
import { Disc } from '../../src/core/iso/disc.ts';
import { discInfo } from '../../src/core/iso/info.ts';
import { discLayout } from '../../src/core/iso/layout.ts';
import { mapEntries } from '../../src/core/map.ts';
import { openImage } from '../../src/core/open.ts';
import { convertImage } from '../../src/core/pipeline/convert-image.ts';
import type { Sink } from '../../src/core/sink.ts';
import { MemoryStorage } from '../../src/core/storage/storage.ts';
import { isIso9660 } from '../../src/core/iso/descriptors.ts';
import { hasUdfRecognition } from '../../src/core/iso/udf-volume.ts';
import { choosePartition, openFileSystem } from '../../src/core/filesystems/browse.ts';
import { portableCrypto } from '../../src/core/crypto/provider.ts';
import { FUZZ_PASSPHRASE } from './recipes/filesystems.ts';
import { codecSample } from './recipes/codecs.ts';
import { lzo1xDecompress, LzoError } from '../../src/core/codecs/lzo1x.ts';
import { zstdDecodeCluster } from '../../src/core/codecs/zstd-frames.ts';

/** Output bytes a conversion may produce before it is stopped: enough to reach every table. */
const OUTPUT_BUDGET = 32 << 20;
const MAP_ENTRIES_BUDGET = 100_000;
const ISO_ENTRIES_BUDGET = 20_000;

class BudgetReached extends Error {}

/** Counts what a conversion writes and stops it past the budget; keeps nothing. */
class CountingSink implements Sink {
  written = 0;
  /** Present only when seekable: that is how the pipelines tell the two kinds apart. */
  readonly truncate?: () => Promise<void>;
  constructor(seekable: boolean) {
    if (seekable) this.truncate = async () => {};
  }
  async write(_offset: number, bytes: Uint8Array): Promise<void> {
    this.written += bytes.length;
    if (this.written > OUTPUT_BUDGET) throw new BudgetReached();
  }
  async close(): Promise<void> {}
}

/** A small raw disk every backing name resolves to, so chains are walked too. */
const BACKING = new Uint8Array(1 << 20).map((_, i) => (i * 31) & 0xff);

export type Outcome = { target: string; result: 'ok' | 'refused' | 'budget'; kind?: string };
export type Finding = { target: string; error: string; stack?: string };

const TARGETS: Record<string, (bytes: Uint8Array) => Promise<unknown>> = {
  info: async (bytes) => withImage(bytes, (image) => imageInfo(image)),
  map: async (bytes) =>
    withImage(bytes, async (image) => {
      let n = 0;
      for await (const _entry of mapEntries(image)) if (++n > MAP_ENTRIES_BUDGET) throw new BudgetReached();
    }),
  picture: async (bytes) => withImage(bytes, (image) => allocationPicture(image, 512)),
  check: async (bytes) => withImage(bytes, async (image) => (image.layers[0].check ? checkImage(image) : null)),
  'convert-raw': async (bytes) => withImage(bytes, (image) => convertImage(image, new CountingSink(true), { outputFormat: 'raw' })),
  'convert-qcow2': async (bytes) =>
    withImage(bytes, (image) => convertImage(image, new CountingSink(true), { outputFormat: 'qcow2', qcow2: { clusterSize: 65536 } })),
  /** The disc reader (ISO 9660, Rock Ridge, Joliet, El Torito, UDF): info, the whole tree, every file and boot image (within the output budget), the layout. */
  iso: async (bytes) => {
    const storage = new MemoryStorage(bytes, 'mutant.iso');
    // Only discs: a qcow2 mutant has no CD001 and no UDF recognition sequence.
    if (!isIso9660(await storage.read(16 * 2048, 2048)) && !(await hasUdfRecognition(storage))) return;
    const disc = await Disc.open(storage);
    discInfo(disc);
    let entries = 0;
    let read = 0;
    for await (const entry of disc.walk()) {
      if (++entries > ISO_ENTRIES_BUDGET) throw new BudgetReached();
      if (entry.type !== 'file') continue;
      for await (const chunk of disc.read(entry)) if ((read += chunk.length) > OUTPUT_BUDGET) throw new BudgetReached();
    }
    for (let i = 0; i < (disc.bootCatalog?.entries.length ?? 0); i++)
      for await (const chunk of disc.readBootImage(i)) if ((read += chunk.length) > OUTPUT_BUDGET) throw new BudgetReached();
    await discLayout(disc);
  },
  /** The file-system browser on the only file system of the disk: the whole walk, every file's bytes (within the budgets). */
  fs: async (bytes) =>
    withImage(bytes, async (image) => {
      const { source } = await choosePartition(image, undefined, undefined, { passphrase: FUZZ_PASSPHRASE, crypto: portableCrypto() });
      const fs = await openFileSystem(source);
      let entries = 0;
      let read = 0;
      for await (const entry of fs.walk()) {
        if (++entries > ISO_ENTRIES_BUDGET) throw new BudgetReached();
        if (entry.type !== 'file') continue;
        for await (const chunk of fs.read(entry)) if ((read += chunk.length) > OUTPUT_BUDGET) throw new BudgetReached();
      }
    }),
  /**
   * The LZO1X decoder on each block of an lzop file (its container read as lzop wrote it), and the
   * zstd frame walker and decoder on a .zst, each into the room a Btrfs extent would give (the
   * sample's length). A stream that does not decode is a refusal; anything else is a finding.
   */
  codecs: async (bytes) => {
    const room = codecSample().length;
    if (LZOP_MAGIC.every((b, i) => bytes[i] === b)) {
      for (const block of lzopBlocks(bytes)) {
        if (block.length > 4 * room) continue; // a container field damaged: Btrfs never asks for more than 128 KiB
        try {
          lzo1xDecompress(block.compressed, new Uint8Array(block.length));
        } catch (error) {
          if (error instanceof LzoError) throw new DiskImgError('corrupt', error.message);
          throw error;
        }
      }
    } else if (bytes[0] === 0x28 && bytes[1] === 0xb5 && bytes[2] === 0x2f && bytes[3] === 0xfd) {
      if (!zstdDecodeCluster(bytes, new Uint8Array(room))) throw new DiskImgError('corrupt', 'the zstd frames do not decode to the sample');
    }
  },
  'convert-qcow2-sequential': async (bytes) =>
    withImage(bytes, (image) => convertImage(image, new CountingSink(false), { outputFormat: 'qcow2', qcow2: { clusterSize: 4096 } })),
};

const LZOP_MAGIC = [0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * The compressed blocks of an lzop file, its header read as lzop 1.04 writes it; where a mutation
 * broke the container itself (not the LZO1X data), the blocks found so far.
 */
function lzopBlocks(file: Uint8Array): Array<{ compressed: Uint8Array; length: number }> {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const blocks: Array<{ compressed: Uint8Array; length: number }> = [];
  try {
    let at = 9;
    const version = v.getUint16(at);
    at += 4 + (version >= 0x0940 ? 2 : 0);
    at += 1 + (version >= 0x0940 ? 1 : 0);
    const flags = v.getUint32(at);
    at += 4 + (flags & 0x800 ? 4 : 0) + 8 + (version >= 0x0940 ? 4 : 0);
    at += 1 + file[at] + 4;
    if (flags & 0x40) return blocks;
    for (;;) {
      const length = v.getUint32(at);
      at += 4;
      if (length === 0) return blocks;
      const stored = v.getUint32(at);
      at += 4 + (flags & 1 ? 4 : 0) + (flags & 0x100 ? 4 : 0);
      if (stored >= length) return blocks; // stored, not compressed (or the sizes damaged)
      at += (flags & 2 ? 4 : 0) + (flags & 0x200 ? 4 : 0);
      if (at + stored > file.length) return blocks;
      blocks.push({ compressed: file.subarray(at, at + stored), length });
      at += stored;
    }
  } catch (error) {
    if (error instanceof RangeError) return blocks; // the container ends early
    throw error;
  }
}

/** Extra targets (the ISO reader) register here when their module exists. */
export function addTarget(name: string, run: (bytes: Uint8Array) => Promise<unknown>): void {
  TARGETS[name] = run;
}

async function withImage<T>(bytes: Uint8Array, work: (image: Awaited<ReturnType<typeof openImage>>) => Promise<T>): Promise<T> {
  // Named *.dmg: DMG is probed by its name (as QEMU does) and its trailer; other formats ignore the name.
  const image = await openImage(new MemoryStorage(bytes, 'mutant.dmg'), {
    resolveBacking: async (name) => new MemoryStorage(BACKING, `backing:${name}`),
  });
  try {
    return await work(image);
  } finally {
    await image.close();
  }
}

/** Runs every target; returns what each did, and the findings (anything but a DiskImgError). */
export async function runTargets(bytes: Uint8Array, only?: string[]): Promise<{ outcomes: Outcome[]; findings: Finding[] }> {
  const outcomes: Outcome[] = [];
  const findings: Finding[] = [];
  for (const [target, run] of Object.entries(TARGETS)) {
    if (only && !only.includes(target)) continue;
    try {
      await run(bytes);
      outcomes.push({ target, result: 'ok' });
    } catch (error) {
      if (error instanceof BudgetReached) outcomes.push({ target, result: 'budget' });
      else if (error instanceof DiskImgError) {
        outcomes.push({ target, result: 'refused', kind: error.kind });
        // A refusal must say something: an empty or 'undefined' message helps nobody.
        if (!error.message || /undefined|NaN|\[object/.test(error.message))
          findings.push({ target, error: `unclear message: ${error.message}` });
      } else findings.push({ target, error: `${(error as Error)?.name}: ${(error as Error)?.message}`, stack: (error as Error)?.stack });
    }
  }
  return { outcomes, findings };
}
