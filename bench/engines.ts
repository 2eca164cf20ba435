/**
 * npm run bench:engines: the page's conversions in Firefox ESR (a normal and a private window) and
 * WebKitGTK, through the UI as a user does it, beside qemu-img on the same input in the same run.
 * Timed from the Convert click to the whole file in the downloads folder (the rung each engine
 * takes: OPFS then a download in a normal Firefox window, a download streamed as it converts in
 * the others), with the browser's peak memory. Prints qemu-img's time / ours (higher is better).
 *
 *   npm run bench:engines -- [--size-gib 2] [--engines firefox,firefox-private,webkit] [--only REGEX]
 *
 * It reads `npm run bench`'s raw input (input-<size>g.raw in --dir), as bench:browser does.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Driver } from '../test/browsers/driver.ts';
import { launchFirefox } from '../test/browsers/firefox.ts';
import { convert, expectSame, openApp } from '../test/browsers/scenarios.ts';
import { launchWebKit } from '../test/browsers/webkit.ts';
import { inputFile, qemuQcow2, type Qcow2Kind } from './files.ts';
import { option } from './options.ts';

const sizeGiB = Number(option('size-gib', '2'));
const dir = resolve(option('dir', '/tmp/diskimg-bench'));
const only = option('only', '') ? new RegExp(option('only', '')) : undefined;
const engines = option('engines', 'firefox,firefox-private,webkit').split(',');
const input = inputFile(dir, sizeGiB);
if (!existsSync(input)) throw new Error(`run npm run bench -- --size-gib ${sizeGiB} first: it makes ${input}`);

const PORT = 4176;
const ORIGIN = `http://127.0.0.1:${PORT}`;
const LAUNCH: Record<string, () => Promise<Driver>> = {
  firefox: () => launchFirefox({ private: false }),
  'firefox-private': () => launchFirefox({ private: true }),
  webkit: () => launchWebKit(),
};

interface Job {
  name: string;
  /** The page's input, and the settings chosen there. */
  source: () => string;
  format: 'qcow2' | 'raw';
  compression?: string;
  qemu: string[];
}

const toQcow2 = (kind: Qcow2Kind, qemu: string[]): Job => ({
  name: `raw→qcow2 ${kind}`,
  source: () => input,
  format: 'qcow2',
  compression: kind === 'plain' ? 'none' : kind,
  qemu,
});
const toRaw = (kind: Qcow2Kind): Job => ({
  name: `qcow2 ${kind}→raw`,
  source: () => qemuQcow2(dir, kind, sizeGiB),
  format: 'raw',
  qemu: ['-O', 'raw'],
});
const JOBS: Job[] = [
  toQcow2('plain', ['-O', 'qcow2']),
  toQcow2('zlib', ['-c', '-O', 'qcow2']),
  toQcow2('zstd', ['-c', '-O', 'qcow2', '-o', 'compression_type=zstd']),
  toRaw('zstd'),
].filter((job) => !only || only.test(job.name));

function qemuSeconds(job: Job, source: string): number {
  const out = join(dir, 'engines-qemu.out');
  rmSync(out, { force: true });
  const started = process.hrtime.bigint();
  execFileSync('qemu-img', ['convert', ...job.qemu, source, out]);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  rmSync(out, { force: true });
  return seconds;
}

const server = spawn('npx', ['vite', 'preview', '--port', String(PORT), '--strictPort', '--host', '127.0.0.1'], {
  stdio: 'ignore',
  detached: true,
});
for (let i = 0; i < 100; i++) {
  if (
    await fetch(ORIGIN).then(
      (r) => r.ok,
      () => false,
    )
  )
    break;
  await new Promise((r) => setTimeout(r, 200));
}
console.log(`${sizeGiB} GiB mixed input, ${new Date().toISOString()}; ratio = qemu-img's time / ours`);
try {
  for (const engine of engines) {
    const driver = await LAUNCH[engine]();
    try {
      for (const job of JOBS) {
        const source = job.source();
        execFileSync('sync');
        // One output name per job: downloads share a folder.
        const slug = job.name.replace(/[^\w]+/g, '-');
        const linked = join(dir, `${slug}.in`);
        rmSync(linked, { force: true });
        execFileSync('ln', ['-s', source, linked]);
        await openApp(driver, ORIGIN, [linked], 'format');
        const ours = await convert(driver, { format: job.format, compression: job.compression }, `${slug}.${job.format}`, 3_600_000);
        expectSame(source, ours.file);
        rmSync(ours.file, { force: true });
        rmSync(linked, { force: true });
        execFileSync('sync');
        const qemu = qemuSeconds(job, source);
        console.log(
          `${engine.padEnd(16)} ${job.name.padEnd(18)} ours ${ours.seconds.toFixed(1).padStart(6)} s  qemu-img ${qemu.toFixed(1).padStart(5)} s  ratio ${(qemu / ours.seconds).toFixed(2)}  rung ${ours.rung}  browser peak ${ours.peakRssMiB} MiB (largest process ${ours.peakProcessMiB})`,
        );
      }
    } finally {
      await driver.close().catch(() => {});
      rmSync(driver.downloads, { recursive: true, force: true });
    }
  }
} finally {
  process.kill(-server.pid!);
}
