/**
 * The resident memory of a Chromium profile's renderer processes (the page and its workers), read
 * from /proc: what "the tab's memory" means in the e2e memory bound and the browser bench.
 */
import { readdirSync, readFileSync } from 'node:fs';

export function rendererRssMiB(profile: string): number {
  let total = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmdline.includes('--type=renderer') || !cmdline.includes(profile)) continue;
      const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (rss) total += Number(rss[1]) / 1024;
    } catch {
      // the process ended while we looked
    }
  }
  return total;
}

/** Samples the peak every 200 ms until stopped. */
export function samplePeak(profile: string): { stop(): number } {
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, rendererRssMiB(profile))), 200);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}
