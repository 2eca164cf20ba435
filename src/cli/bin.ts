#!/usr/bin/env node
// The diskimg command: runs main() with the process's arguments and exit code.
import { main } from './main.ts';

// `diskimg fs cat … | head`: the reader went away, so stop quietly, as cat does on SIGPIPE.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

/** Waits for the pipe to drain when it is full, so `fs cat` of a big file never queues it in memory. */
const stdoutBytes = (bytes: Uint8Array) =>
  new Promise<void>((done, failed) =>
    process.stdout.write(bytes, (error) => (error ? failed(error) : undefined)) ? done() : process.stdout.once('drain', done),
  );

main(process.argv.slice(2), { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s), stdoutBytes }).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`diskimg: internal error: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
