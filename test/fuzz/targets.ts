/**
 * What the fuzzer runs on each mutant, in-process and platform-free: open, info, map, check,
 * convert to raw and to qcow2 (the outputs counted, not kept) and, for discs, the disc reader
 * (ISO 9660, Rock Ridge, Joliet, El Torito, UDF): info, the whole walk, every file's bytes, the layout;
 * and the file-system browser (FAT, ext2/3/4) on whatever file system the disk holds.
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
  /** The file-system browser (FAT, ext2/3/4) on the only file system of the disk: the whole walk, every file's bytes (within the budgets). */
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
  'convert-qcow2-sequential': async (bytes) =>
    withImage(bytes, (image) => convertImage(image, new CountingSink(false), { outputFormat: 'qcow2', qcow2: { clusterSize: 4096 } })),
};

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
