/**
 * Debian's Firefox ESR driven over WebDriver BiDi by puppeteer-core, in a normal window or in a
 * private one (browser.privatebrowsing.autostart: the whole session is private, as a private
 * window is: no OPFS there).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type ElementHandle } from 'puppeteer-core';
import { processTree, type Driver } from './driver.ts';

export async function launchFirefox(options: { private: boolean }): Promise<Driver> {
  const downloads = mkdtempSync(join(tmpdir(), 'diskimg-ff-downloads-'));
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr',
    headless: true,
    extraPrefsFirefox: {
      'browser.privatebrowsing.autostart': options.private,
      'browser.download.folderList': 2,
      'browser.download.dir': downloads,
      'browser.download.useDownloadDir': true,
      'browser.download.always_ask_before_handling_new_types': false,
      'browser.download.start_downloads_in_tmp_dir': false,
      'browser.helperApps.neverAsk.saveToDisk': 'application/octet-stream',
      // Nothing the browser does by itself should reach the network during the tests.
      'network.captive-portal-service.enabled': false,
      'network.connectivity-service.enabled': false,
      'browser.safebrowsing.downloads.enabled': false,
      'browser.safebrowsing.malware.enabled': false,
      'browser.safebrowsing.phishing.enabled': false,
    },
  });
  const page = (await browser.pages())[0] ?? (await browser.newPage());
  const pid = browser.process()?.pid;
  return {
    name: options.private ? 'firefox-private' : 'firefox',
    downloads,
    async open(url) {
      await page.goto(url, { waitUntil: 'load' });
    },
    async upload(files) {
      const input = (await page.$('input[type=file]')) as ElementHandle<HTMLInputElement>;
      await input.uploadFile(...files);
    },
    script: (body) => page.evaluate(`(() => {${body}})()`) as never,
    async preload(script) {
      const { identifier } = await page.evaluateOnNewDocument(script);
      return () => page.removeScriptToEvaluateOnNewDocument(identifier);
    },
    pids: () => (pid ? processTree(pid) : []),
    close: () => browser.close(),
  };
}
