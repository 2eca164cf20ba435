/**
 * WebKitGTK's MiniBrowser driven by WebKitWebDriver (Debian's webkit2gtk-driver) over classic
 * W3C WebDriver, spoken with plain fetch calls. It needs a display: Xvfb is started here when
 * none is set. MiniBrowser saves downloads into $HOME when no XDG download folder is set, so it
 * runs with a fresh HOME that is the download folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processTree, sleep, type Driver } from './driver.ts';

const MINIBROWSER = process.env.WEBKIT_MINIBROWSER ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

function startXvfb(): { display: string; process?: ChildProcess } {
  if (process.env.DISPLAY) return { display: process.env.DISPLAY };
  const display = `:${90 + Math.floor(Math.random() * 400)}`;
  const xvfb = spawn('Xvfb', [display, '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], { stdio: 'ignore' });
  return { display, process: xvfb };
}

export async function launchWebKit(): Promise<Driver> {
  const home = mkdtempSync(join(tmpdir(), 'diskimg-webkit-home-'));
  const x = startXvfb();
  const port = 4400 + Math.floor(Math.random() * 500);
  const driverProcess = spawn('WebKitWebDriver', [`--port=${port}`], {
    stdio: 'ignore',
    env: {
      ...process.env,
      HOME: home,
      DISPLAY: x.display,
      XDG_DOWNLOAD_DIR: home,
      XDG_CONFIG_HOME: join(home, '.config'),
      XDG_DATA_HOME: join(home, '.local'),
      XDG_CACHE_HOME: join(home, '.cache'),
    },
  });
  const base = `http://127.0.0.1:${port}`;
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await response.json()) as { value: unknown };
    if (!response.ok) throw new Error(`WebDriver ${method} ${path}: ${JSON.stringify(json.value)}`);
    return json.value;
  };
  let session: { sessionId: string } | undefined;
  for (let i = 0; i < 50 && !session; i++) {
    try {
      session = (await call('POST', '/session', {
        capabilities: {
          alwaysMatch: {
            browserName: 'MiniBrowser',
            'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation', '--enable-write-console-messages-to-stdout=true'] },
          },
        },
      })) as { sessionId: string };
    } catch (error) {
      if (i === 49) throw error;
      await sleep(200);
    }
  }
  const s = `/session/${session!.sessionId}`;
  return {
    name: 'webkit',
    downloads: home,
    async open(url) {
      await call('POST', `${s}/url`, { url });
    },
    async upload(files) {
      const element = (await call('POST', `${s}/element`, { using: 'css selector', value: 'input[type=file]' })) as Record<string, string>;
      await call('POST', `${s}/element/${element[ELEMENT]}/value`, { text: files.join('\n') });
    },
    script: async (body) => (await call('POST', `${s}/execute/sync`, { script: body, args: [] })) as never,
    // MiniBrowser and its web processes are children of this run's WebKitWebDriver.
    pids: () => (driverProcess.pid ? processTree(driverProcess.pid) : []),
    async close() {
      await call('DELETE', s).catch(() => {});
      driverProcess.kill();
      x.process?.kill();
    },
  };
}
