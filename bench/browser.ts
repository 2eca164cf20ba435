/**
 * npm run bench:browser: the same conversions as npm run bench, in headless Chromium through the
 * app's UI (OPFS staging, before the download), side by side with qemu-img on the same input,
 * interleaved. Also times merely reading the input in the page, the ceiling for plain copies.
 *
 *   npm run bench:browser -- [--size-gib 2] [--reps 3] [--dir /tmp/diskimg-bench] [--only REGEX]
 *                            [--port 4174] [--checksum-mb 500] [--engines no] [--download yes]
 *
 * The checksum job ('SHA-256') times the page's SHA-256 of the input's first --checksum-mb MB,
 * from the click to the hash on screen, beside sha256sum of the same file. --engines no leaves out
 * the other browsers' run (bench/engines.ts) at the end. --download yes also times each conversion
 * to its download complete (the file whole in the downloads folder), and prints that ratio too.
 */
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { samplePeak } from '../test/support/renderer-memory.ts';
import { startApp } from './browser-app.ts';
import { STAGING_PREFIX } from '../src/lib/outputs.ts';
import { inputFile, qemuQcow2 } from './files.ts';
import { option } from './options.ts';

const sizeGiB = Number(option('size-gib', '2'));
const reps = Number(option('reps', '3'));
const only = option('only', '') ? new RegExp(option('only', '')) : undefined;
const dir = resolve(option('dir', '/tmp/diskimg-bench'));
const input = inputFile(dir, sizeGiB);
if (!existsSync(input)) throw new Error(`run npm run bench -- --size-gib ${sizeGiB} first: it makes ${input}`);
const bytes = statSync(input).size;
const PORT = Number(option('port', '4174'));
const checksumBytes = Number(option('checksum-mb', '500')) * 1e6;
const timeDownload = option('download', 'no') === 'yes';

const app = await startApp(PORT, ['--js-flags=--expose-gc']);
const { page, open } = app;

/**
 * Before every timed run: the input in the page cache, and the previous run's output written back
 * (`sync`). Left dirty, a GiB of the last job's output is written back during the next one and its
 * writes wait for it (the page's OPFS writes took 1.5 s per 1.3 GB after a qemu-img run, 0.3 s after
 * a sync).
 */
const warm = (file: string) => {
  execFileSync('cat', [file], { stdio: ['ignore', 'ignore', 'ignore'], maxBuffer: 1 << 20 });
  execFileSync('sync');
};
/**
 * After loading the page: the last run's staged output gone (the page removes it when it loads).
 * Removing a GiB takes a quarter second of the browser's time, which would otherwise fall into
 * the run timed next; a user pays it once per visit, not once per job.
 */
async function leftoversRemoved(): Promise<void> {
  for (;;) {
    const left = await page.evaluate(`(async () => {
      const root = await navigator.storage.getDirectory();
      for await (const name of root.keys()) if (name.startsWith(${JSON.stringify(STAGING_PREFIX)})) return true;
      return false;
    })()`);
    if (!left) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
/**
 * CPU seconds (user + system) used so far by the browser's processes of this profile: on this
 * shared VM the wall time of a job swings with the other sessions' load, its CPU time much less.
 */
function browserCpuSeconds(): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(app.profileDir)) continue;
      // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process ended while we looked
    }
  }
  return ticks / 100; // USER_HZ
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const listed = (v: number[]) => v.map((t) => t.toFixed(2)).join(' ') + ' s';

async function browserConvert(file: string, format: 'qcow2' | 'raw', compression: string): Promise<number> {
  await open(file);
  await leftoversRemoved();
  await app.chooseOutput(format, compression);
  const downloading = page.waitForEvent('download', { timeout: 1_800_000 });
  const memory = samplePeak(app.profileDir);
  // Timed in the page, from the click to the outcome on screen: Playwright's own round trips
  // (actionability checks, polling for the outcome) are no part of what a user waits for.
  await page.evaluate(`(() => {
    const times = (window.benchTimes = {});
    document.addEventListener('click', () => (times.click = performance.now()), { capture: true, once: true });
    new MutationObserver((_, observer) => {
      if (!document.querySelector('[data-testid=outcome]')) return;
      times.outcome = performance.now();
      observer.disconnect();
    }).observe(document.body, { childList: true, subtree: true });
  })()`);
  const cpuBefore = browserCpuSeconds();
  await page.getByRole('button', { name: 'Convert' }).click();
  await page.getByTestId('outcome').waitFor({ timeout: 1_800_000 });
  cpuSeconds.push(browserCpuSeconds() - cpuBefore);
  const times = (await page.evaluate('window.benchTimes')) as { click: number; outcome: number };
  const seconds = (times.outcome - times.click) / 1000;
  peakMiB = Math.max(peakMiB, memory.stop());
  const download = await downloading;
  if (timeDownload) {
    // path() settles once the file is whole in the downloads folder (a Playwright round trip late: never early).
    await download.path();
    downloadSeconds.push(((await page.evaluate('performance.now()')) as number) / 1000 - times.click / 1000);
    await download.delete();
  } else await download.cancel();
  // The staged output stays in OPFS until the next job: its size is the file's.
  lastSize = (await page.evaluate(`(async () => {
    let size = 0;
    const root = await navigator.storage.getDirectory();
    for await (const [name, handle] of root.entries()) if (name.startsWith('diskimg-staged-')) size = Math.max(size, (await handle.getFile()).size);
    return size;
  })()`)) as number;
  return seconds;
}

let lastSize = 0;
/** The current job's times to the download complete (--download yes). */
let downloadSeconds: number[] = [];
/** The current job's CPU seconds in the browser, click to outcome. */
let cpuSeconds: number[] = [];
/** The renderer's peak resident memory over the current job's runs. */
let peakMiB = 0;
let qemuSize = 0;

/**
 * In the page or a worker's source: a BYOB read, or 'stalled' when it brings nothing for 10 s
 * (Chromium's stream now and then stops delivering).
 */
const readOrStall = `async function readOrStall(reader, view) {
  let timer;
  const stalled = new Promise((resolve) => (timer = setTimeout(() => resolve('stalled'), 10000)));
  try { return await Promise.race([reader.read(view), stalled]); } finally { clearTimeout(timer); }
}`;

/** One BYOB stream into a reused 4 MiB buffer: seconds, or -1 if a read brought nothing for 10 s. */
function streamRead(): Promise<number> {
  // A string, not a function: tsx would add helpers to a function that do not exist in the page.
  return page.evaluate(`(async () => {
    ${readOrStall}
    const file = document.querySelector('input[type=file]').files[0];
    const start = performance.now();
    const reader = file.stream().getReader({ mode: 'byob' });
    let buffer = new ArrayBuffer(4 << 20);
    for (;;) {
      const result = await readOrStall(reader, new Uint8Array(buffer));
      if (result === 'stalled') return -1;
      if (result.done) break;
      buffer = result.value.buffer;
    }
    return (performance.now() - start) / 1000;
  })()`) as Promise<number>;
}

/**
 * The least any plain conversion in a browser must do, without the engine: in a worker, read the
 * input with one BYOB stream into a reused 4 MiB buffer, zero-test each 64 KiB cluster and write
 * each run of the others with a SyncAccessHandle at the next offset of an OPFS file (no tables, no
 * flush). Seconds; a copy whose stream brought nothing for 10 s is started again, and said.
 */
async function bareCopy(file: string): Promise<number> {
  await open(file);
  await leftoversRemoved();
  const source = `
    ${readOrStall}
    const zero = (w, from, to) => {
      for (let i = from; i < to; i += 8) if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7]) return false;
      return true;
    };
    onmessage = ({ data: file }) => copy(file).then(postMessage, (error) => postMessage(String(error)));
    async function copy(file) {
      const root = await navigator.storage.getDirectory();
      await root.removeEntry('bench-bare-copy').catch(() => {});
      const out = await (await root.getFileHandle('bench-bare-copy', { create: true })).createSyncAccessHandle();
      const start = performance.now();
      const reader = file.stream().getReader({ mode: 'byob' });
      let buffer = new ArrayBuffer(4 << 20);
      let written = 0;
      for (let ended = false; !ended; ) {
        let filled = 0;
        while (filled < buffer.byteLength) {
          const result = await readOrStall(reader, new Uint8Array(buffer, filled));
          if (result === 'stalled') return -1;
          if (result.value) buffer = result.value.buffer; // the view handed back, empty when done
          if (result.done) { ended = true; break; }
          filled += result.value.byteLength;
        }
        const words = new Uint32Array(buffer, 0, filled >> 2);
        let run = -1;
        for (let at = 0; at < filled + 65536; at += 65536) { // the last step lies past the data: it ends a run
          const data = at < filled && !zero(words, at >> 2, Math.min(filled, at + 65536) >> 2);
          if (data && run < 0) run = at;
          if (!data && run >= 0) {
            const bytes = new Uint8Array(buffer, run, Math.min(filled, at) - run);
            if (out.write(bytes, { at: written }) !== bytes.length) throw new Error('short write');
            written += bytes.length;
            run = -1;
          }
        }
      }
      const seconds = (performance.now() - start) / 1000;
      out.close();
      await root.removeEntry('bench-bare-copy');
      return seconds;
    }`;
  return againWhileStalled(file, 'the bare copy', () => inWorker(source));
}

/**
 * Chromium's BYOB stream now and then stops delivering (seen in 2 of some 40 passes): a pass that
 * returned -1 for it is run again on the input opened afresh, and said (the engine's own stream
 * falls back to slices after 5 s instead).
 */
async function againWhileStalled(file: string, what: string, pass: () => Promise<number>): Promise<number> {
  for (;;) {
    const seconds = await pass();
    if (seconds >= 0) return seconds;
    console.log(`  (${what}: the BYOB stream stalled for 10 s, running it again)`);
    await open(file);
  }
}

/** Runs `source` in a worker of the page, posting it the opened File; what the worker posts back (a number). */
function inWorker(source: string): Promise<number> {
  return page.evaluate(`(async () => {
    const file = document.querySelector('input[type=file]').files[0];
    const worker = new Worker(URL.createObjectURL(new Blob([${JSON.stringify(source)}], { type: 'text/javascript' })));
    const seconds = new Promise((resolve, reject) => { worker.onmessage = ({ data }) => resolve(data); worker.onerror = (e) => reject(new Error(e.message)); });
    worker.postMessage(file);
    try {
      const result = await seconds;
      if (typeof result !== 'number') throw new Error('in a worker: ' + result);
      return result;
    } finally { worker.terminate(); }
  })()`) as Promise<number>;
}

/** Reads the whole input in the page: `chunkMiB` slices, `inFlight` at once, or (0) one BYOB stream into a reused 4 MiB buffer. */
async function browserRead(file: string, chunkMiB: number, inFlight: number): Promise<number> {
  await open(file);
  await leftoversRemoved();
  if (chunkMiB === 0) return againWhileStalled(file, 'reading', streamRead);
  // A string, not a function: tsx would add helpers to a function that do not exist in the page.
  return page.evaluate(`(async () => {
    const file = document.querySelector('input[type=file]').files[0];
    const start = performance.now();
    const chunk = ${chunkMiB} << 20;
    let next = 0;
    async function reader() {
      while (next < file.size) {
        const at = next;
        next += chunk;
        await file.slice(at, at + chunk).arrayBuffer();
      }
    }
    await Promise.all(Array.from({ length: ${inFlight} }, reader));
    return (performance.now() - start) / 1000;
  })()`) as Promise<number>;
}

/** The page's SHA-256 of `file`, timed in the page from the click to the hash on screen: seconds and the hash. */
async function browserSha256(file: string): Promise<{ seconds: number; hash: string }> {
  await open(file);
  await page.evaluate(`(() => {
    const times = (window.benchTimes = {});
    document.addEventListener('click', () => (times.click = performance.now()), { capture: true, once: true });
    new MutationObserver((_, observer) => {
      if (!document.querySelector('[data-hash=sha256]')) return;
      times.outcome = performance.now();
      observer.disconnect();
    }).observe(document.body, { childList: true, subtree: true });
  })()`);
  // Also the button of builds before SHA-256 came alone ('Compute SHA-256, SHA-1 and MD5'), to compare.
  await page.getByRole('button', { name: /^Compute SHA-256/ }).click();
  await page.locator('[data-hash=sha256]').waitFor({ timeout: 600_000 });
  const times = (await page.evaluate('window.benchTimes')) as { click: number; outcome: number };
  return { seconds: (times.outcome - times.click) / 1000, hash: (await page.locator('[data-hash=sha256]').textContent()) ?? '' };
}

function sha256sum(file: string): { seconds: number; hash: string } {
  const start = performance.now();
  const result = spawnSync('sha256sum', [file], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr);
  return { seconds: (performance.now() - start) / 1000, hash: result.stdout.split(' ')[0] };
}

/** The page's SHA-256 beside sha256sum on the same file, interleaved. */
async function checksumJob(): Promise<void> {
  const file = join(dir, `checksum-${checksumBytes / 1e6}mb.bin`);
  if (!existsSync(file) || statSync(file).size !== checksumBytes) {
    execFileSync('head', ['-c', String(checksumBytes), input], { stdio: ['ignore', openSync(file, 'w'), 'inherit'] });
  }
  const ours: number[] = [];
  const theirs: number[] = [];
  let same = true;
  peakMiB = 0;
  for (let i = 0; i < reps; i++) {
    warm(file);
    const native = sha256sum(file);
    theirs.push(native.seconds);
    warm(file);
    const memory = samplePeak(app.profileDir);
    const page = await browserSha256(file);
    peakMiB = Math.max(peakMiB, memory.stop());
    ours.push(page.seconds);
    same &&= page.hash === native.hash;
  }
  const tq = median(theirs);
  const to = median(ours);
  const mb = checksumBytes / 1e6;
  console.log(
    `SHA-256 ${mb} MB  sha256sum ${(mb / tq).toFixed(0).padStart(5)} MB/s  browser ${(mb / to).toFixed(0).padStart(5)} MB/s  ratio ${(tq / to).toFixed(2)}` +
      `  renderer peak ${peakMiB.toFixed(0)} MiB  ${same ? 'same hash' : 'DIFFERENT HASH'}\n  rep by rep: sha256sum ${listed(theirs)}, page ${listed(ours)}`,
  );
}

function qemu(argv: string[]): number {
  const out = join(dir, 'browser-bench.qemu');
  rmSync(out, { force: true });
  const start = performance.now();
  const result = spawnSync('qemu-img', [...argv, out]);
  if (result.status !== 0) throw new Error(String(result.stderr));
  const seconds = (performance.now() - start) / 1000;
  qemuSize = statSync(out).size;
  return seconds;
}

// The back-to-raw inputs are made (by qemu-img) only when a job that reads one runs.
const jobs = [
  { name: 'raw→qcow2', from: () => input, format: 'qcow2' as const, compression: 'none', qemu: ['convert', '-f', 'raw', '-O', 'qcow2'] },
  {
    name: 'raw→qcow2 zlib',
    from: () => input,
    format: 'qcow2' as const,
    compression: 'zlib',
    qemu: ['convert', '-c', '-f', 'raw', '-O', 'qcow2'],
  },
  {
    name: 'raw→qcow2 zstd',
    from: () => input,
    format: 'qcow2' as const,
    compression: 'zstd',
    qemu: ['convert', '-c', '-f', 'raw', '-O', 'qcow2', '-o', 'compression_type=zstd'],
  },
  {
    name: 'qcow2→raw',
    from: () => qemuQcow2(dir, 'plain', sizeGiB),
    format: 'raw' as const,
    compression: 'none',
    qemu: ['convert', '-O', 'raw'],
  },
  {
    name: 'qcow2 zlib→raw',
    from: () => qemuQcow2(dir, 'zlib', sizeGiB),
    format: 'raw' as const,
    compression: 'none',
    qemu: ['convert', '-O', 'raw'],
  },
  {
    name: 'qcow2 zstd→raw',
    from: () => qemuQcow2(dir, 'zstd', sizeGiB),
    format: 'raw' as const,
    compression: 'none',
    qemu: ['convert', '-O', 'raw'],
  },
];

try {
  // The ceiling of a plain conversion is the fastest of these ways to merely read the input (only
  // the plain raw→qcow2 job prints it).
  let read = Infinity;
  const converting = !only || only.test('raw→qcow2');
  for (const [chunk, inFlight] of converting
    ? [
        [4, 4],
        [16, 2],
        [16, 3],
        [32, 2],
        [0, 1],
      ]
    : []) {
    const reads: number[] = [];
    for (let i = 0; i < reps; i++) {
      warm(input);
      reads.push(await browserRead(input, chunk, inFlight));
    }
    const seconds = median(reads);
    read = Math.min(read, seconds);
    const how = chunk === 0 ? 'one BYOB stream' : `${chunk} MiB slices × ${inFlight}`;
    console.log(`reading the input in the page, ${how}: ${(bytes / 1e6 / seconds).toFixed(0)} MB/s (${seconds.toFixed(2)} s)`);
  }
  // GiBs of read buffers left for the garbage collector would count in the first job's memory peak.
  await page.evaluate('gc()');
  for (const job of jobs) {
    if (only && !only.test(job.name)) continue;
    const file = job.from();
    peakMiB = 0;
    const ours: number[] = [];
    const theirs: number[] = [];
    // The plain job's ceiling is also read in each of its reps, beside it: this VM's speed drifts
    // within minutes, so a read timed before all jobs is not quite the same machine.
    const besideReads: number[] = [];
    const bareCopies: number[] = [];
    downloadSeconds = [];
    cpuSeconds = [];
    for (let i = 0; i < reps; i++) {
      warm(file);
      theirs.push(qemu([...job.qemu, file]));
      warm(file);
      ours.push(await browserConvert(file, job.format, job.compression));
      if (job.name === 'raw→qcow2') {
        warm(file);
        besideReads.push(await browserRead(file, 0, 1));
        warm(file);
        bareCopies.push(await bareCopy(file));
      }
    }
    const to = median(ours);
    const tq = median(theirs);
    console.log(
      `${job.name.padEnd(16)} qemu-img ${(bytes / 1e6 / tq).toFixed(0).padStart(5)} MB/s  browser ${(bytes / 1e6 / to).toFixed(0).padStart(5)} MB/s  ratio ${(tq / to).toFixed(2)}` +
        `  renderer peak ${peakMiB.toFixed(0)} MiB` +
        (job.format === 'qcow2' ? `  size ${((lastSize / qemuSize - 1) * 100).toFixed(2)} % vs qemu-img` : '') +
        `\n  rep by rep: qemu-img ${listed(theirs)}, page to the output complete ${listed(ours)}` +
        (timeDownload ? `, to the download complete ${listed(downloadSeconds)} (ratio ${(tq / median(downloadSeconds)).toFixed(2)})` : '') +
        `; the browser's CPU to the output complete ${listed(cpuSeconds)}` +
        (job.name === 'raw→qcow2'
          ? `\n  rep by rep: conversion ${listed(ours)}, reading alone (one BYOB stream) ${listed(besideReads)}, bare copy (read, zero test, write; no engine) ${listed(bareCopies)}` +
            `\n  of the conversion's time, reading alone takes ${(median(besideReads) / to).toFixed(2)} (the fastest way above: ${(read / to).toFixed(2)}), a bare copy ${(median(bareCopies) / to).toFixed(2)}`
          : ''),
    );
  }
  if (!only || only.test('SHA-256')) await checksumJob();
  console.log(
    `\n${sizeGiB} GiB, median of ${reps}, ratio = qemu-img time / browser time; the browser's time runs from the click to the outcome on screen (output complete in OPFS, download started)`,
  );
} finally {
  await app.close();
}

// Firefox (a normal and a private window) and WebKitGTK beside these Chromium figures, on the same input.
if (option('engines', 'yes') !== 'no') {
  console.log('\nThe other engines (to the whole file in the downloads folder):');
  const others = spawnSync(
    'npx',
    ['tsx', 'bench/engines.ts', ...process.argv.slice(2).filter((_, i, all) => all[i] !== '--reps' && all[i - 1] !== '--reps')],
    { stdio: 'inherit' },
  );
  if (others.status !== 0) process.exitCode = others.status ?? 1;
}
