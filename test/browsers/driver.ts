/**
 * The few things the cross-engine tests ask of a browser, whatever drives it (WebDriver BiDi for
 * Firefox, classic W3C WebDriver for WebKitGTK): open a page, give the file input files, run a
 * script in the page, and say where downloads land.
 */
import { execFileSync } from 'node:child_process';

export interface Driver {
  /** Shown in the report: "firefox", "firefox-private", "webkit". */
  name: string;
  /** The folder the browser saves downloads into. */
  downloads: string;
  open(url: string): Promise<void>;
  /** Gives the page's first file input these files (its change event fires). */
  upload(files: string[]): Promise<void>;
  /** Runs a function body in the page and returns its (JSON) result. */
  script<T>(body: string): Promise<T>;
  /** Runs a script in every page before its own, until the returned function undoes it (where the driver can). */
  preload?(script: string): Promise<() => Promise<void>>;
  /** Process ids of the browser's processes, for memory figures. */
  pids(): number[];
  close(): Promise<void>;
}

/** A process and all its descendants (for memory figures: only this run's browser). */
export function processTree(root: number): number[] {
  let table: Array<[number, number]>;
  try {
    table = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  } catch {
    return [root];
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, ppid] of table) if (ppid === out[i]) out.push(pid);
  return out;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls a page script until it returns something truthy (or throws after `timeout`). */
export async function waitFor<T>(driver: Driver, body: string, what: string, timeout = 60_000): Promise<T> {
  const end = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const value = await driver.script<T>(body);
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > end) {
      // What the page said when it gave up: the difference between "stuck on Reading…" and an error.
      const shown = await driver.script<string>(`return document.body.innerText.slice(0, 1500);`).catch(() => '(unreadable)');
      throw new Error(
        `${driver.name}: timed out waiting for ${what}${last ? ` (${last})` : ''}; the page showed: ${JSON.stringify(shown)}`,
      );
    }
    await sleep(200);
  }
}
