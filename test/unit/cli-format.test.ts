import { describe, expect, it } from 'vitest';
import { printfFixed } from '../../src/cli/format.ts';

describe("qemu-img's percentages", () => {
  it('round an exact tie to even, as glibc printf does', () => {
    expect(printfFixed(3.125, 2)).toBe('3.12');
    expect(printfFixed(3.375, 2)).toBe('3.38');
    expect(printfFixed(2.5, 0)).toBe('2');
    expect(printfFixed(100 / 3, 2)).toBe('33.33');
  });
});
