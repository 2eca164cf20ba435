/** The files the benches share in their directory, named by size so runs of other sizes never mix. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export type Qcow2Kind = 'plain' | 'zlib' | 'zstd';

/** The raw input `npm run bench` makes. */
export const inputFile = (dir: string, sizeGiB: number) => join(dir, `input-${sizeGiB}g.raw`);

/** What `npm run bench` names a raw→qcow2 job's outputs, before `.qemu` or `.ours`. */
export const qcow2Made = (kind: Qcow2Kind, sizeGiB: number) => `${kind}-${sizeGiB}g.qcow2`;

const QEMU_OPTIONS: Record<Qcow2Kind, string[]> = { plain: [], zlib: ['-c'], zstd: ['-c', '-o', 'compression_type=zstd'] };

/**
 * A back-to-raw job's input: qemu-img's qcow2 of the raw input, as the raw→qcow2 jobs leave it;
 * made here when a run skipped those jobs (`--only`).
 */
export function qemuQcow2(dir: string, kind: Qcow2Kind, sizeGiB: number): string {
  const file = join(dir, `${qcow2Made(kind, sizeGiB)}.qemu`);
  if (!existsSync(file))
    execFileSync('qemu-img', ['convert', ...QEMU_OPTIONS[kind], '-f', 'raw', '-O', 'qcow2', inputFile(dir, sizeGiB), file]);
  return file;
}

/** A reader job's input: qemu-img's image of the raw input in another format (made once, kept). */
export function qemuImage(dir: string, format: string, options: string[], sizeGiB: number): string {
  const file = join(dir, `reader-${[format, ...options].join('-').replace(/\W+/g, '-')}-${sizeGiB}g.${format}.qemu`);
  if (!existsSync(file)) execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', format, ...options, inputFile(dir, sizeGiB), file]);
  return file;
}
