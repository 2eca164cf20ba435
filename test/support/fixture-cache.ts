/**
 * Fixtures made by real tools, once per machine and per version of the file that makes them:
 * built in place in <tmp>/<prefix>-<hash of that file> (some images name their data files by
 * absolute path, so they cannot be moved). A lock folder keeps concurrent test files from
 * building twice — the others wait for the manifest — and older versions left untouched for an
 * hour are removed. What `build` returns is the manifest (JSON), read back by every later run.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WAIT_MS = 600_000;
const STALE_MS = 3_600_000;

export function cachedFixtures<T>(prefix: string, maker: string, build: (dir: string) => T): T {
  const hash = createHash('sha256')
    .update(readFileSync(fileURLToPath(maker)))
    .digest('hex')
    .slice(0, 12);
  const dir = join(tmpdir(), `${prefix}-${hash}`);
  const manifest = join(dir, 'fixtures.json');
  if (!existsSync(manifest)) {
    let builder = false;
    try {
      mkdirSync(`${dir}.lock`);
      builder = true;
    } catch {
      // Another process is building them: wait for its manifest.
    }
    if (builder) {
      try {
        removeStale(prefix, dir);
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true });
        writeFileSync(manifest, JSON.stringify(build(dir), null, 2));
      } finally {
        rmSync(`${dir}.lock`, { recursive: true, force: true });
      }
    } else {
      const deadline = Date.now() + WAIT_MS;
      while (!existsSync(manifest)) {
        if (Date.now() > deadline) throw new Error(`fixtures in ${dir} were not built in time`);
        execFileSync('sleep', ['0.2']);
      }
    }
  }
  return JSON.parse(readFileSync(manifest, 'utf8')) as T;
}

/** Earlier versions of these fixtures, untouched for an hour (not ones another run may be using). */
function removeStale(prefix: string, current: string): void {
  for (const name of readdirSync(tmpdir())) {
    const other = join(tmpdir(), name);
    if (
      name.startsWith(`${prefix}-`) &&
      /^[0-9a-f]{12}$/.test(name.slice(prefix.length + 1)) &&
      other !== current &&
      Date.now() - statSync(other).mtimeMs > STALE_MS
    ) {
      rmSync(other, { recursive: true, force: true });
    }
  }
}
