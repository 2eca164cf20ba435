/** Running our CLI in-process and qemu-img beside it, and comparing what they leave behind. */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { main } from '../../src/cli/main.ts';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export async function diskimg(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

/**
 * qemu-img times PBKDF2 before it writes or sizes a LUKS header, and on a busy machine that timing
 * fails ("Unable to get accurate CPU usage"): a run that failed so is run again (a few times).
 */
const PBKDF_TIMING = 'Unable to get accurate CPU usage';

export function qemuImg(...args: string[]): Run {
  for (let attempt = 1; ; attempt++) {
    const result = spawnSync('qemu-img', args, { encoding: 'utf8' });
    if (result.status !== 0 && result.stderr.includes(PBKDF_TIMING) && attempt < 20) continue;
    return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
  }
}

export function qemuImgOk(...args: string[]): string {
  const run = qemuImg(...args);
  if (run.code !== 0) throw new Error(`qemu-img ${args.join(' ')} failed (${run.code}): ${run.stderr}`);
  return run.stdout;
}

/** Compares two files in 4 MiB pieces (never whole in memory); returns the first differing offset. */
export function firstDifference(a: string, b: string): number | null {
  const sizeA = statSync(a).size;
  const sizeB = statSync(b).size;
  const fa = openSync(a, 'r');
  const fb = openSync(b, 'r');
  const chunk = 4 * 1024 * 1024;
  const ba = Buffer.alloc(chunk);
  const bb = Buffer.alloc(chunk);
  try {
    for (let at = 0; at < Math.min(sizeA, sizeB); at += chunk) {
      const na = readSync(fa, ba, 0, chunk, at);
      const nb = readSync(fb, bb, 0, chunk, at);
      if (na !== nb || !ba.subarray(0, na).equals(bb.subarray(0, nb))) {
        for (let i = 0; i < Math.min(na, nb); i++) if (ba[i] !== bb[i]) return at + i;
        return at + Math.min(na, nb);
      }
    }
    return sizeA === sizeB ? null : Math.min(sizeA, sizeB);
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
}
