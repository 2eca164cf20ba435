import { describe, expect, it } from 'vitest';
import { MIN_GAP, timelinePlaces } from '../../src/lib/timeline.ts';

const gaps = (places: number[]) =>
  [...places]
    .sort((a, b) => a - b)
    .slice(1)
    .map((p, i, rest) => p - (i === 0 ? Math.min(...places) : rest[i - 1]));

describe('timelinePlaces', () => {
  it('puts one snapshot in the middle', () => {
    expect(timelinePlaces([1000])).toEqual([50]);
  });
  it('spreads snapshots by time from 4 % to 96 %', () => {
    expect(timelinePlaces([0, 50, 100])).toEqual([4, 50, 96]);
  });
  it('keeps snapshots a second apart among days of others as dots of their own', () => {
    const places = timelinePlaces([0, 86400 * 30, 86400 * 30 + 1, 86400 * 30 + 2]);
    for (const gap of gaps(places)) expect(gap).toBeGreaterThanOrEqual(MIN_GAP - 1e-9);
    expect(Math.max(...places)).toBeLessThanOrEqual(96);
    // Order kept: later ones to the right.
    expect(places[1]).toBeLessThan(places[2]);
    expect(places[2]).toBeLessThan(places[3]);
  });
  it('spreads snapshots taken at one second around the middle, in their order', () => {
    const places = timelinePlaces([7, 7]);
    expect(places[1] - places[0]).toBeCloseTo(MIN_GAP);
    expect((places[0] + places[1]) / 2).toBeCloseTo(50);
  });
  it('two snapshots a second apart sit at both ends', () => {
    expect(timelinePlaces([10, 11])).toEqual([4, 96]);
  });
});
