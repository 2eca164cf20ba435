/**
 * npm run fuzz: a seeded mutation fuzzer over images made by qemu-img and xorriso. Each mutant
 * goes through info, map, check, convert (and the ISO listing) in a worker thread under a time and
 * memory budget. A hang, a crash, an exception that is not a DiskImgError, or a runaway allocation
 * fails the run, and the mutant is kept in test/fuzz/regressions/ (gzipped) so the unit tests
 * replay it forever after.
 *
 *   npm run fuzz -- [--mutants N] [--seed S] [--budget-ms MS] [--workers W] [--only REGEX] [--no-save]
 */
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { mutant, prng } from './mutate.ts';
import { seeds, type Seed } from './seeds.ts';
import type { Job, Report } from './worker.ts';

const here = dirname(fileURLToPath(import.meta.url));
const REGRESSIONS = join(here, 'regressions');

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
}

const MUTANTS = Number(option('mutants', '2000'));
const SEED = Number(option('seed', '1'));
const BUDGET_MS = Number(option('budget-ms', '10000'));
const WORKERS = Number(option('workers', '2'));
const ONLY = process.argv.includes('--only') ? new RegExp(option('only', '')) : undefined;
const SAVE = !process.argv.includes('--no-save');

interface Failure {
  seed: string;
  mutations: string[];
  reason: string;
  file?: string;
}

/** The worker is bundled once: a worker thread does not inherit tsx's TypeScript loader. */
async function bundleWorker(): Promise<string> {
  const out = join(here, '..', '..', 'node_modules', '.cache', 'diskimg-fuzz', 'worker.mjs');
  await build({
    entryPoints: [join(here, 'worker.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: out,
    logLevel: 'error',
    external: ['@bokuweb/zstd-wasm'],
  });
  return out;
}

function keep(seed: Seed, bytes: Uint8Array, failure: Failure): string | undefined {
  if (!SAVE) return undefined;
  mkdirSync(REGRESSIONS, { recursive: true });
  const hash = createHash('sha1').update(bytes).digest('hex').slice(0, 12);
  const base = join(REGRESSIONS, `${seed.name}-${hash}`);
  writeFileSync(`${base}.gz`, gzipSync(bytes, { level: 9 }));
  writeFileSync(`${base}.txt`, `${failure.reason}\nseed ${seed.name}, mutations: ${failure.mutations.join(', ')}\n`);
  return `${base}.gz`;
}

async function main(): Promise<number> {
  const all = seeds(ONLY);
  if (all.length === 0) throw new Error('no seeds: is qemu-img installed?');
  const workerFile = await bundleWorker();
  const failures: Failure[] = [];
  const outcomes = new Map<string, number>();
  let next = 0;
  let finished = 0;
  const started = Date.now();

  /** Deterministic: mutant i of a campaign depends only on the campaign seed and i. */
  const make = (i: number) => {
    const random = prng(SEED * 1_000_003 + i);
    const seed = all[i % all.length];
    const hot = seed.hot ? seed.hot[Math.floor(random() * seed.hot.length)] : seed.name.endsWith('.iso') ? 16 * 2048 : 0;
    return { seed, ...mutant(seed.bytes, random, hot) };
  };

  async function lane(): Promise<void> {
    let worker: Worker | undefined;
    const spawn = () => new Worker(workerFile, { resourceLimits: { maxOldGenerationSizeMb: 768 } });
    while (next < MUTANTS) {
      const id = next++;
      const { seed, bytes, applied } = make(id);
      worker ??= spawn();
      const copy = bytes.slice();
      const report = await new Promise<Report | { crash: string }>((resolve) => {
        const timer = setTimeout(() => resolve({ crash: `hang: no answer within ${BUDGET_MS} ms` }), BUDGET_MS);
        const onMessage = (message: Report) => done(message);
        const onError = (error: Error) => done({ crash: `crash: ${error.message}` });
        const onExit = (code: number) => done({ crash: `crash: the worker exited with code ${code}` });
        function done(result: Report | { crash: string }) {
          clearTimeout(timer);
          worker!.off('message', onMessage).off('error', onError).off('exit', onExit);
          resolve(result);
        }
        worker!.on('message', onMessage).on('error', onError).on('exit', onExit);
        worker!.postMessage({ id, bytes: copy } satisfies Job, [copy.buffer]);
      });
      if ('crash' in report) {
        await worker.terminate().catch(() => {});
        worker = undefined;
        const failure: Failure = { seed: seed.name, mutations: applied, reason: report.crash };
        failure.file = keep(seed, bytes, failure);
        failures.push(failure);
      } else {
        for (const o of report.outcomes) {
          const key = `${o.target} ${o.result}${o.kind ? `:${o.kind}` : ''}`;
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        }
        for (const finding of report.findings) {
          const failure: Failure = {
            seed: seed.name,
            mutations: applied,
            reason: `${finding.target}: ${finding.error}${finding.stack ? `\n${finding.stack}` : ''}`,
          };
          failure.file = keep(seed, bytes, failure);
          failures.push(failure);
        }
      }
      if (++finished % 1000 === 0)
        console.log(`${finished} mutants, ${(finished / ((Date.now() - started) / 1000)).toFixed(0)}/s, ${failures.length} failures`);
    }
    await worker?.terminate();
  }

  await Promise.all(Array.from({ length: WORKERS }, lane));
  const seconds = (Date.now() - started) / 1000;
  console.log(
    `\nfuzz: ${finished} mutants of ${all.length} seeds (${all.map((s) => s.name).join(', ')}), seed ${SEED}, ${seconds.toFixed(1)} s, ${(finished / seconds).toFixed(0)} mutants/s`,
  );
  for (const [key, count] of [...outcomes].sort()) console.log(`  ${key.padEnd(48)} ${count}`);
  for (const failure of failures.slice(0, 20))
    console.log(
      `\nFAILURE (${failure.seed}; ${failure.mutations.join(', ')}): ${failure.reason.split('\n').slice(0, 6).join('\n  ')}${failure.file ? `\n  kept as ${failure.file}` : ''}`,
    );
  console.log(failures.length === 0 ? '\nno failures' : `\n${failures.length} failures`);
  rmSync(workerFile, { force: true });
  return failures.length === 0 ? 0 : 1;
}

process.exitCode = await main();
