/**
 * Where a conversion's time goes in the page: runs one job through the app in headless Chromium
 * with the V8 CPU profiler on every worker (and the page) for the first `--window` ms after the
 * click on Convert, and prints each thread's busiest functions by self time, and its idle share.
 * The window must end before the job does: the job's workers end with it, and their profiles too.
 *
 *   npm run profile:browser -- <input file> [--format qcow2|raw] [--compression none|zlib|zstd] [--window 1500] [--top 15]
 *
 * Workers are reached through the page's DevTools session (auto-attach, messages relayed through
 * Target.sendMessageToTarget): Playwright's sessions speak to pages only. --port N serves the app on N (4178).
 */
import type { CDPSession } from '@playwright/test';
import { startApp } from './browser-app.ts';
import { option } from './options.ts';

const args = process.argv.slice(2);
const input = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
if (!input)
  throw new Error(
    'usage: npm run profile:browser -- <input file> [--format qcow2|raw] [--compression none|zlib|zstd] [--window 1500] [--top 15]',
  );
const format = option('format', 'qcow2');
const compression = option('compression', 'none');
const top = Number(option('top', '15'));
const windowMs = Number(option('window', '1500'));
const PORT = Number(option('port', '4178'));

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** A worker's DevTools session, relayed through the page's. */
class WorkerSession {
  private nextId = 1;
  private readonly pending = new Map<number, (result: unknown) => void>();
  constructor(
    private readonly page: CDPSession,
    readonly sessionId: string,
    readonly title: string,
  ) {}

  send<T>(method: string, params: object = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((done) => {
      this.pending.set(id, done as (result: unknown) => void);
      // A worker that has ended answers nothing: its promise stays pending, and callers time out.
      this.page
        .send('Target.sendMessageToTarget', { sessionId: this.sessionId, message: JSON.stringify({ id, method, params }) })
        .catch(() => undefined);
    });
  }

  receive(message: string): void {
    const parsed = JSON.parse(message) as { id?: number; result?: unknown };
    if (parsed.id !== undefined) this.pending.get(parsed.id)?.(parsed.result);
    this.pending.delete(parsed.id ?? -1);
  }
}

function summarize(title: string, profile: Profile): void {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, index) => {
    const node = byNode.get(id)!;
    const frame = node.callFrame;
    const name = `${frame.functionName || '(anonymous)'} ${frame.url.split('/').pop()}:${frame.lineNumber + 1}`.trim();
    const ms = (profile.timeDeltas[index] ?? 0) / 1000;
    self.set(name, (self.get(name) ?? 0) + ms);
    total += ms;
  });
  const idle = (self.get('(idle) :0') ?? 0) + (self.get('(program) :0') ?? 0);
  console.log(`\n${title}: ${(total / 1000).toFixed(2)} s sampled, idle/program ${((idle / total) * 100).toFixed(0)} %`);
  for (const [name, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${ms.toFixed(0).padStart(7)} ms  ${name}`);
}

const app = await startApp(PORT);
try {
  const { page, context } = app;
  await app.open(input);
  await app.chooseOutput(format, compression);

  const session = await context.newCDPSession(page);
  const workers: WorkerSession[] = [];
  session.on('Target.receivedMessageFromTarget', (event) => workers.find((w) => w.sessionId === event.sessionId)?.receive(event.message));
  session.on('Target.attachedToTarget', (event) => {
    const worker = new WorkerSession(session, event.sessionId, `${event.targetInfo.type} ${event.targetInfo.url.split('/').pop()}`);
    workers.push(worker);
    // Profiling starts as the worker does; the worker waits for it (waitForDebuggerOnStart).
    void worker
      .send('Profiler.enable')
      .then(() => worker.send('Profiler.setSamplingInterval', { interval: 500 }))
      .then(() => worker.send('Profiler.start'))
      .then(() => worker.send('Runtime.runIfWaitingForDebugger'));
  });
  await session.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: true, flatten: false });
  await session.send('Profiler.enable');
  await session.send('Profiler.start');

  const downloading = page.waitForEvent('download', { timeout: 1_800_000 });
  const started = performance.now();
  await page.getByRole('button', { name: 'Convert' }).click();
  await page.waitForTimeout(windowMs);
  const profiles: Array<[string, Profile | null]> = [['page', ((await session.send('Profiler.stop')) as { profile: Profile }).profile]];
  for (const worker of workers) {
    const stopped = await Promise.race([
      worker.send<{ profile: Profile }>('Profiler.stop'),
      new Promise<null>((r) => setTimeout(() => r(null), 2000)),
    ]);
    profiles.push([worker.title, stopped?.profile ?? null]);
  }
  await page.getByTestId('outcome').waitFor({ timeout: 1_800_000 });
  console.log(
    `job: ${((performance.now() - started) / 1000).toFixed(2)} s (${format}${format === 'qcow2' ? `, ${compression}` : ''}); profiled: the first ${windowMs} ms`,
  );
  await (await downloading).cancel();
  for (const [title, profile] of profiles) {
    if (profile) summarize(title, profile);
    else console.log(`\n${title}: ended within the window, its profile with it`);
  }
} finally {
  await app.close();
}
