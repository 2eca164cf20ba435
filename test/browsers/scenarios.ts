/**
 * What every engine must do, through the page as a user does it: inspect a qcow2 chain, convert
 * qcow2→raw and raw→qcow2 with zlib and with zstd, and qemu-img's zlib and zstd qcow2 back to raw
 * (their clusters decoded on the page's codec workers; each output checked by qemu-img), inspect
 * an ISO, and make no request to another origin. Each conversion records the rung the page took.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { pattern } from '../interop/fixtures.ts';
import { sleep, waitFor, type Driver } from './driver.ts';

export interface Fixtures {
  dir: string;
  base: string;
  overlay: string;
  raw: string;
  iso: string;
}

const qemu = (...args: string[]) => spawnSync('qemu-img', args, { encoding: 'utf8' });

/** Small inputs made by qemu-img and genisoimage, once for every engine. */
export function makeFixtures(dir: string): Fixtures {
  const raw = join(dir, 'disk.img');
  const parts: Buffer[] = [];
  for (let i = 0; i < 8; i++) parts.push(pattern((['text', 'zero', 'random', 'text'] as const)[i % 4], 1 << 20, i + 1));
  writeFileSync(raw, Buffer.concat(parts));
  const base = join(dir, 'base.qcow2');
  const overlay = join(dir, 'overlay.qcow2');
  execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, base]);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', overlay], { cwd: dir });
  execFileSync('qemu-io', ['-c', 'write -P 0x5a 1M 64k', '-c', 'write -z 3M 1M', overlay], { stdio: 'ignore' });
  const content = join(dir, 'iso-content');
  execFileSync('mkdir', ['-p', join(content, 'docs')]);
  writeFileSync(join(content, 'docs', 'readme.txt'), 'hello from the disc\n');
  const iso = join(dir, 'disc.iso');
  execFileSync('genisoimage', ['-quiet', '-R', '-J', '-V', 'ENGINE_DISC', '-o', iso, content]);
  return { dir, base, overlay, raw, iso };
}

const js = JSON.stringify;

export const page = {
  select: (label: string, value: string) =>
    `const label = [...document.querySelectorAll('label')].find((l) => l.textContent.trim().startsWith(${js(label)}));
     const select = label && label.querySelector('select');
     if (!select || select.disabled) return false;
     select.value = ${js(value)};
     select.dispatchEvent(new Event('change', { bubbles: true }));
     return select.value === ${js(value)};`,
  click: (text: string) =>
    `const button = [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === ${js(text)});
     if (!button || button.disabled) return false;
     button.click();
     return true;`,
  /** Clicks the first button whose text, spaces folded, starts with this (a row's hidden verb and its name). */
  clickLabelled: (name: string) =>
    `const button = [...document.querySelectorAll('button')].find((b) => b.textContent.replace(/\\s+/g, ' ').trim().startsWith(${js(name)}));
     if (!button || button.disabled) return false;
     button.click();
     return true;`,
  text: (testid: string) => `const el = document.querySelector('[data-testid="${testid}"]'); return el ? el.textContent : '';`,
  rung: `const el = document.querySelector('[data-testid="route"]'); return el ? [el.dataset.rung, el.textContent] : null;`,
  /** Every URL the page loaded (its resources) that is not of its own origin, and any CSP violation. */
  foreign: `const urls = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')].map((e) => e.name);
     return [...urls.filter((u) => !u.startsWith(location.origin + '/') && !/^(blob|data):/.test(u)), ...(window.__violations ?? [])];`,
  /** A preload: every message that hands a worker a MessagePort is posted a second late. */
  latePorts: `const post = Worker.prototype.postMessage;
     Worker.prototype.postMessage = function (message, transfer) {
       if (!Array.isArray(transfer) || !transfer.some((t) => t instanceof MessagePort)) return post.call(this, message, transfer);
       setTimeout(() => post.call(this, message, transfer), 1000);
     };`,
  /** True once the page's service worker is active, or where there is no service worker container. */
  serviceWorkerSettled: `const c = navigator.serviceWorker;
     return !c || c.getRegistration().then((r) => !!(r && r.active), () => true);`,
  watchViolations: `window.__violations = []; document.addEventListener('securitypolicyviolation', (e) => window.__violations.push('csp: ' + e.blockedURI)); return true;`,
};

export interface JobResult {
  name: string;
  rung: string;
  sentence: string;
  seconds: number;
  peakRssMiB?: number;
  /** The largest single process's peak (the content process doing the work). */
  peakProcessMiB?: number;
  /** Its command name (/proc/<pid>/comm). */
  peakProcessName?: string;
}

/** Opens the app fresh (English), with files in the opener. */
export async function openApp(driver: Driver, origin: string, files: string[], ready: string): Promise<void> {
  await driver.open(`${origin}/`);
  // The first visit installs the app's service worker; reloading before it is active left
  // WebKitGTK 2.50's stuck 'installing' for good in 2 of 5 sessions (0 of 5 without the reload),
  // and with it the stream rung. Where a window has none, this gives up after a few seconds.
  await waitFor(driver, page.serviceWorkerSettled, 'the service worker', 10_000).catch(() => {});
  await driver.script(`localStorage.setItem('diskimg.lang', 'en'); return true;`);
  await driver.open(`${origin}/`);
  await waitFor(driver, `return document.querySelector('input[type=file]') !== null;`, 'the file input');
  await driver.script(page.watchViolations);
  await driver.upload(files);
  await waitFor(driver, `return document.querySelector('[data-testid="${ready}"]') !== null;`, ready);
}

/** Waits for a finished download of this name (no .part beside it, size steady). */
export async function waitForDownload(driver: Driver, name: string, timeout = 120_000): Promise<string> {
  const file = join(driver.downloads, name);
  const end = Date.now() + timeout;
  let last = -1;
  for (;;) {
    const partial = readdirSync(driver.downloads).some((f) => f.startsWith(name) && f !== name);
    if (existsSync(file) && !partial) {
      const size = statSync(file).size;
      if (size === last && size > 0) return file;
      last = size;
    }
    if (Date.now() > end)
      throw new Error(`${driver.name}: ${name} was not downloaded (folder holds ${readdirSync(driver.downloads).join(', ') || 'nothing'})`);
    await sleep(300);
  }
}

/** Resident memory of the browser's processes: their sum (shared pages counted in each) and the largest. */
function rssMiB(pids: number[]): { sum: number; largest: number; largestName: string } {
  let sum = 0;
  let largest = 0;
  let largestName = '';
  for (const pid of pids) {
    try {
      const match = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (match) {
        const mib = Number(match[1]) / 1024;
        sum += mib;
        if (mib > largest) {
          largest = mib;
          largestName = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
        }
      }
    } catch {
      // The process ended.
    }
  }
  return { sum, largest, largestName };
}

/** Clicks Convert with these settings and waits for the outcome; returns the rung and the time. */
export async function convert(
  driver: Driver,
  settings: { format: string; compression?: string },
  output: string,
  timeout = 120_000,
): Promise<JobResult & { file: string }> {
  await waitFor(driver, page.select('Output format', settings.format), `output format ${settings.format}`);
  if (settings.compression) await waitFor(driver, page.select('Compression', settings.compression), `compression ${settings.compression}`);
  const started = Date.now();
  await waitFor(driver, page.click('Convert'), 'the Convert button');
  let peak = 0;
  let peakProcess = 0;
  let peakProcessName = '';
  const end = Date.now() + timeout;
  let outcome: string;
  for (;;) {
    const rss = rssMiB(driver.pids());
    peak = Math.max(peak, rss.sum);
    if (rss.largest > peakProcess) {
      peakProcess = rss.largest;
      peakProcessName = rss.largestName;
    }
    outcome = await driver.script<string>(page.text('outcome'));
    if (outcome) break;
    const failure = await driver.script<string>(`const a = document.querySelector('[role=alert]'); return a ? a.textContent : '';`);
    if (failure) throw new Error(`${driver.name}: ${output}: ${failure}`);
    if (Date.now() > end)
      throw new Error(
        `${driver.name}: ${output}: no outcome after ${timeout / 1000} s (${await driver.script(page.text('progress-text'))})`,
      );
    await sleep(250);
  }
  if (!outcome.includes('was downloaded')) throw new Error(`${driver.name}: ${output}: ${outcome}`);
  const [rung, sentence] = (await driver.script<[string, string] | null>(page.rung)) ?? ['?', ''];
  const file = await waitForDownload(driver, output, timeout);
  const seconds = (Date.now() - started) / 1000;
  return {
    name: output,
    rung,
    sentence,
    seconds,
    peakRssMiB: Math.round(peak),
    peakProcessMiB: Math.round(peakProcess),
    peakProcessName,
    file,
  };
}

export function expectSame(a: string, b: string): void {
  if (b.endsWith('.qcow2')) {
    const check = qemu('check', b);
    if (!check.stdout.includes('No errors were found on the image.'))
      throw new Error(`qemu-img check ${b}: ${check.stdout}${check.stderr}`);
  }
  const compare = qemu('compare', a, b);
  if (compare.stdout !== 'Images are identical.\n') throw new Error(`qemu-img compare ${a} ${b}: ${compare.stdout}${compare.stderr}`);
}

/** The focused suite every engine runs; returns each conversion's rung and time. */
export async function runScenarios(driver: Driver, origin: string, fx: Fixtures, log: (line: string) => void): Promise<JobResult[]> {
  const results: JobResult[] = [];
  const foreign: string[] = [];
  const step = async (what: string, work: () => Promise<void>) => {
    const t = Date.now();
    await work();
    foreign.push(...(await driver.script<string[]>(page.foreign)));
    log(`  ok  ${what} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
  };

  await step('a qcow2 chain is inspected, and converted to raw', async () => {
    await openApp(driver, origin, [fx.overlay, fx.base], 'chain');
    await waitFor(
      driver,
      `return document.querySelector('[data-testid="chain"]').textContent.includes('base.qcow2');`,
      'the chain to show base.qcow2',
    );
    const format = await driver.script<string>(page.text('format'));
    if (!format.startsWith('qcow2')) throw new Error(`format shown: ${format}`);
    const job = await convert(driver, { format: 'raw' }, 'overlay.raw');
    expectSame(fx.overlay, job.file);
    results.push(job);
  });

  for (const compression of ['zlib', 'zstd']) {
    await step(`raw to qcow2 with ${compression}`, async () => {
      // One input name per job: the output's name follows it, and downloads share a folder.
      const input = join(fx.dir, `disk-${compression}.img`);
      copyFileSync(fx.raw, input);
      await openApp(driver, origin, [input], 'format');
      const job = await convert(driver, { format: 'qcow2', compression }, `disk-${compression}.qcow2`);
      expectSame(fx.raw, job.file);
      results.push(job);
    });
    await step(`qcow2 with ${compression} clusters to raw`, async () => {
      const input = join(fx.dir, `qemu-${compression}.qcow2`);
      execFileSync('qemu-img', ['convert', '-q', '-c', '-o', `compression_type=${compression}`, '-f', 'raw', '-O', 'qcow2', fx.raw, input]);
      await openApp(driver, origin, [input], 'format');
      const job = await convert(driver, { format: 'raw' }, `qemu-${compression}.raw`);
      expectSame(fx.raw, job.file);
      results.push(job);
    });
  }

  if (driver.preload) {
    // The job's message to the engine (carrying the download's port) leaves a second late: the
    // download must still start, and only once the engine holds its port (Firefox drops a message
    // that reaches a started port with no listener; the page's end is never started).
    await step('raw to qcow2, the engine given its download port late', async () => {
      const undo = await driver.preload!(page.latePorts);
      try {
        const input = join(fx.dir, 'disk-late.img');
        copyFileSync(fx.raw, input);
        await openApp(driver, origin, [input], 'format');
        const job = await convert(driver, { format: 'qcow2', compression: 'zlib' }, 'disk-late.qcow2', 30_000);
        expectSame(fx.raw, job.file);
        results.push(job);
      } finally {
        await undo();
      }
    });
  }

  await step('an ISO is inspected', async () => {
    await openApp(driver, origin, [fx.iso], 'disc-summary');
    const label = await waitFor<string>(driver, page.text('disc-label'), 'the disc label');
    if (label !== 'ENGINE_DISC') throw new Error(`disc label shown: ${label}`);
  });

  await step('a file is extracted from the ISO', async () => {
    await waitFor(driver, page.clickLabelled('Open folder docs'), 'the docs folder');
    await waitFor(driver, page.clickLabelled('Show details of readme.txt'), 'readme.txt');
    await waitFor(driver, page.click('Extract this file'), 'the Extract button');
    const file = await waitForDownload(driver, 'readme.txt');
    const bytes = readFileSync(file, 'utf8');
    if (bytes !== 'hello from the disc\n') throw new Error(`readme.txt extracted as ${JSON.stringify(bytes)}`);
    results.push({ name: 'readme.txt', rung: 'extract', sentence: '', seconds: 0 });
  });

  if (foreign.length) throw new Error(`${driver.name}: requests to another origin: ${foreign.join(', ')}`);
  log('  ok  no request to another origin');
  return results;
}

/** One bigger raw→qcow2 job for speed and memory figures (BROWSERS_LARGE_MIB, off by default). */
export async function largeJob(driver: Driver, origin: string, dir: string, mebibytes: number): Promise<JobResult> {
  const input = join(dir, `large-${mebibytes}.img`);
  if (!existsSync(input)) {
    const chunk = Buffer.concat([
      pattern('text', 1 << 20, 7),
      pattern('random', 1 << 20, 8),
      pattern('zero', 1 << 20, 9),
      pattern('text', 1 << 20, 10),
    ]);
    const parts: Buffer[] = [];
    for (let i = 0; i < mebibytes / 4; i++) parts.push(chunk);
    writeFileSync(input, Buffer.concat(parts));
  }
  await openApp(driver, origin, [input], 'format');
  const job = await convert(driver, { format: 'qcow2', compression: 'none' }, `large-${mebibytes}.qcow2`, 1_200_000);
  expectSame(input, job.file);
  return job;
}

/** The largest a browser process may grow while converting a large input whose output is small:
 *  well under the input's size, so a page that held the input (or the image) in memory fails.
 *  WebKit gets more room: once in about a dozen CI runs one of its processes reached 1317 MiB (the
 *  others 539–629 MiB). Naming the process showed who: the web process stays at 578–582 MiB, while
 *  the network process, which serves the File's slices and takes the streamed download, holds 30 MiB
 *  to 1.1 GiB of anonymous memory from run to run — WebKit's own buffering, still short of the 2 GiB
 *  a page holding the input would take. */
export const sparseJobProcessLimitMiB = (engine: string): number => (engine === 'webkit' ? 1536 : 1024);

/**
 * A large sparse raw (one MiB of data every 32 MiB, the rest holes) to qcow2 with no compression:
 * the page reads every byte of a ≥ 2 GiB input, the output stays small (so no engine's own
 * download buffering, measured in the README, dominates), and the largest browser process must stay
 * under sparseJobProcessLimitMiB.
 */
export async function sparseJob(driver: Driver, origin: string, dir: string, mebibytes: number): Promise<JobResult> {
  const input = join(dir, `sparse-${mebibytes}.img`);
  if (!existsSync(input)) {
    const fd = openSync(input, 'w');
    try {
      ftruncateSync(fd, mebibytes * 2 ** 20);
      for (let mib = 0; mib < mebibytes; mib += 32)
        writeSync(fd, pattern(mib % 64 ? 'random' : 'text', 1 << 20, mib), 0, 1 << 20, mib * 2 ** 20);
    } finally {
      closeSync(fd);
    }
  }
  await openApp(driver, origin, [input], 'format');
  const job = await convert(driver, { format: 'qcow2', compression: 'none' }, `sparse-${mebibytes}.qcow2`, 600_000);
  expectSame(input, job.file);
  const limit = sparseJobProcessLimitMiB(driver.name);
  if ((job.peakProcessMiB ?? 0) > limit)
    throw new Error(
      `${driver.name}: converting a ${mebibytes} MiB input took a browser process (${job.peakProcessName}) to ${job.peakProcessMiB} MiB (limit ${limit} MiB)`,
    );
  return job;
}
