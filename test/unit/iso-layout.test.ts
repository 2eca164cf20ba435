/**
 * The disc picture's coalescing: whatever the number of regions (a disc of 100 000 files), the
 * picture gets at most 4096, sorted, clipped to the image, and withGaps covers every byte.
 */
import { describe, expect, it } from 'vitest';
import { coalesce, withGaps, type Region, type RegionKind } from '../../src/core/iso/layout.ts';

const SECTOR = 2048;

describe('layout coalescing', () => {
  it('100 000 alternating regions become at most 4096, in order, inside the image', () => {
    const kinds: RegionKind[] = ['files', 'directories'];
    const regions: Region[] = [];
    for (let i = 0; i < 100_000; i++) regions.push({ kind: kinds[i % 2], offset: (i * 3 + 20) * SECTOR, length: SECTOR * (1 + (i % 3)) });
    const size = 320_000 * SECTOR;
    const out = coalesce(regions, size);
    expect(out.length).toBeLessThanOrEqual(4096);
    expect(out.every((r, i) => i === 0 || r.offset >= out[i - 1].offset)).toBe(true);
    expect(out.every((r) => r.offset >= 0 && r.length > 0 && r.offset + r.length <= size)).toBe(true);
  });

  it('neighbours of one kind merge across sector padding, not across kinds or details', () => {
    const out = coalesce(
      [
        { kind: 'files', offset: 0, length: 100 },
        { kind: 'files', offset: SECTOR, length: 100 },
        { kind: 'descriptors', offset: 2 * SECTOR, length: SECTOR, detail: 'udf' },
        { kind: 'descriptors', offset: 3 * SECTOR, length: SECTOR },
        { kind: 'files', offset: 10 * SECTOR, length: 50 * SECTOR }, // clipped at the end
      ],
      20 * SECTOR,
    );
    expect(out).toEqual([
      { kind: 'files', offset: 0, length: SECTOR + 100 },
      { kind: 'descriptors', offset: 2 * SECTOR, length: SECTOR, detail: 'udf' },
      { kind: 'descriptors', offset: 3 * SECTOR, length: SECTOR },
      { kind: 'files', offset: 10 * SECTOR, length: 10 * SECTOR },
    ]);
    const spans = withGaps(out, 20 * SECTOR);
    expect(spans.map((s) => [s.kind, s.offset, s.length])).toEqual([
      ['files', 0, SECTOR + 100],
      ['free', SECTOR + 100, SECTOR - 100],
      ['descriptors', 2 * SECTOR, SECTOR],
      ['descriptors', 3 * SECTOR, SECTOR],
      ['free', 4 * SECTOR, 6 * SECTOR],
      ['files', 10 * SECTOR, 10 * SECTOR],
    ]);
  });
});
