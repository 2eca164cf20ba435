/** qemu-img's -p progress line, "    (42.00/100%)" redrawn in place, at most every 1 %. */
import type { CliIO } from './context.ts';

export function progressPrinter(io: CliIO, enabled: boolean): { update(done: number, total: number): void; end(): void } {
  let last = -1;
  const print = (percent: number) => io.stdout(`    (${percent.toFixed(2)}/100%)\r`);
  if (enabled) print(0);
  return {
    update(done, total) {
      if (!enabled || total === 0) return;
      const percent = Math.floor((done / total) * 100);
      if (percent > last) {
        last = percent;
        print((done / total) * 100);
      }
    },
    end() {
      if (!enabled) return;
      if (last < 100) print(100);
      io.stdout('\n');
    },
  };
}
