/**
 * No worker starts a worker of its own: in Firefox's private windows an engine worker that did
 * (its compression pool) stayed stuck in the Worker constructor for good, in about one job in
 * fifteen. The page starts every helper worker and lends it by port (src/lib/ready-worker.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const WORKERS = join(import.meta.dirname, '..', '..', 'workers');

describe('worker scripts', () => {
  const files = readdirSync(WORKERS).filter((name) => name.endsWith('.ts'));

  it('are there to look at', () => {
    expect(files).toContain('engine.worker.ts');
  });

  it.each(files)('%s starts no worker', (name) => {
    const source = readFileSync(join(WORKERS, name), 'utf8');
    expect(source).not.toMatch(/new\s+(Shared)?Worker\s*\(/);
  });
});
