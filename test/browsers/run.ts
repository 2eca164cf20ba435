/**
 * The app in other engines than Chromium: Firefox ESR (a normal and a private window) over
 * WebDriver BiDi, and WebKitGTK's MiniBrowser over W3C WebDriver. Serves the built app
 * (dist/, from `vite build`) on its own port and runs the same focused suite in each.
 *
 *   tsx test/browsers/run.ts [firefox] [firefox-private] [webkit]     (all three by default)
 * Every engine also converts a 2 GiB sparse raw (BROWSERS_SPARSE_MIB) and must keep its largest
 * process under a bound well below the input's size.
 *   BROWSERS_LARGE_MIB=2048 … also times one mixed raw→qcow2 job of that size, with the browser's peak RSS
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Driver } from './driver.ts';
import { launchFirefox } from './firefox.ts';
import { largeJob, makeFixtures, runScenarios, sparseJob, sparseJobProcessLimitMiB } from './scenarios.ts';
import { launchWebKit } from './webkit.ts';

const PORT = Number(process.env.BROWSERS_PORT ?? 4175);
const ORIGIN = `http://127.0.0.1:${PORT}`;
const ENGINES: Record<string, () => Promise<Driver>> = {
  firefox: () => launchFirefox({ private: false }),
  'firefox-private': () => launchFirefox({ private: true }),
  webkit: () => launchWebKit(),
};

async function serve(): Promise<() => void> {
  const server = spawn('npx', ['vite', 'preview', '--port', String(PORT), '--strictPort', '--host', '127.0.0.1'], {
    stdio: 'ignore',
    detached: true,
  });
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(ORIGIN)).ok) return () => process.kill(-server.pid!);
    } catch {
      // Not up yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  process.kill(-server.pid!);
  throw new Error('vite preview did not start');
}

const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const engines = names.length ? names : Object.keys(ENGINES);
const dir = mkdtempSync(join(tmpdir(), 'diskimg-browsers-'));
const stop = await serve();
let failed = 0;
try {
  const fixtures = makeFixtures(dir);
  for (const engine of engines) {
    console.log(`${engine}:`);
    const started = Date.now();
    let driver: Driver | undefined;
    try {
      driver = await ENGINES[engine]();
      const results = await runScenarios(driver, ORIGIN, fixtures, console.log);
      for (const r of results.filter((r) => r.rung !== 'extract'))
        console.log(
          `      ${r.name}: rung ${r.rung}, ${r.seconds.toFixed(1)} s, RSS peak ${r.peakRssMiB} MiB (largest process ${r.peakProcessMiB}) — ${r.sentence}`,
        );
      const sparse = Number(process.env.BROWSERS_SPARSE_MIB ?? 2048);
      const sparseResult = await sparseJob(driver, ORIGIN, dir, sparse);
      results.push(sparseResult);
      console.log(
        `  ok  ${sparse} MiB sparse raw→qcow2: ${sparseResult.seconds.toFixed(1)} s, rung ${sparseResult.rung}, largest process ${sparseResult.peakProcessMiB} MiB (${sparseResult.peakProcessName}; limit ${sparseJobProcessLimitMiB(driver.name)}), all processes ${sparseResult.peakRssMiB} MiB`,
      );
      const large = Number(process.env.BROWSERS_LARGE_MIB ?? 0);
      if (large > 0) {
        const job = await largeJob(driver, ORIGIN, dir, large);
        results.push(job);
        console.log(
          `  ok  ${large} MiB raw→qcow2: ${job.seconds.toFixed(1)} s, ${((large * 1.048576) / job.seconds).toFixed(0)} MB/s, rung ${job.rung}, browser RSS peak ${job.peakRssMiB} MiB (all processes), ${job.peakProcessMiB} MiB (largest)`,
        );
      }
      // Only the outputs: a download the page did not mean (a link the service worker missed) fails.
      const extra = readdirSync(driver.downloads).filter((f) => !f.startsWith('.') && !results.some((r) => r.name === f));
      if (extra.length) throw new Error(`unexpected files among the downloads: ${extra.join(', ')}`);
      console.log(`  passed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    } catch (error) {
      failed++;
      console.log(`  FAILED: ${(error as Error).stack ?? error}`);
    } finally {
      await driver?.close().catch(() => {});
      if (driver) rmSync(driver.downloads, { recursive: true, force: true });
    }
  }
} finally {
  stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
