/** What every recipe book shares: the shape of a book, and the tools that make the seeds. */
import { execFileSync } from 'node:child_process';

/** Makes one seed at `file`; `dir` is the book's folder, for files the seed refers to. */
export type Recipe = (file: string, dir: string) => void;

/**
 * One format's seeds. `url` is the book's own module (its content keys the cache, so a changed
 * recipe remakes that book's seeds); without one of `tools` the book is left out (.ci/run installs them).
 */
export interface RecipeBook {
  url: string;
  tools: string[];
  recipes: Record<string, Recipe>;
}

export const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { stdio: 'ignore' });

/** Runs each qemu-io command on `file`, opened as `format`. */
export const qemuIo = (format: string, file: string, ...commands: string[]) => {
  for (const command of commands) execFileSync('qemu-io', ['-f', format, '-c', command, file], { stdio: 'ignore' });
};
