/** The page's -o controls come from the formats' own tables, and only what a page can save. */
import { describe, expect, it } from 'vitest';
import { changedOptions, pageOptions } from '../../src/lib/format-options.ts';

describe('the options the page offers', () => {
  it('VHD: subformat and force_size, as qemu-img names them', () => {
    expect(pageOptions('vpc').map((o) => [o.key, o.kind, o.default])).toEqual([
      ['force_size', 'toggle', 'off'],
      ['subformat', 'choice', 'dynamic'],
    ]);
  });

  it('VMDK: only subformats of one file, and no sizes or backing files', () => {
    const keys = pageOptions('vmdk').map((o) => o.key);
    expect(pageOptions('vmdk').find((o) => o.key === 'subformat')?.values).toEqual(['monolithicSparse', 'streamOptimized']);
    for (const hidden of ['size', 'backing_file', 'backing_fmt']) expect(keys).not.toContain(hidden);
  });

  it("OVA: the machine's CPUs, memory, controller and manifest", () => {
    expect(pageOptions('ova').map((o) => [o.key, o.kind])).toEqual([
      ['cpus', 'number'],
      ['memory', 'number'],
      ['controller', 'choice'],
      ['manifest', 'toggle'],
    ]);
  });

  it('raw and qcow2 have controls of their own', () => {
    expect(pageOptions('raw')).toEqual([]);
    expect(pageOptions('qcow2')).toEqual([]);
  });

  it('only options that differ from the default go on the command line', () => {
    expect(changedOptions('vpc', { subformat: 'dynamic', force_size: 'on' })).toEqual({ force_size: 'on' });
    expect(changedOptions('vdi', { static: 'off' })).toEqual({});
    expect(changedOptions('ova', { cpus: '1', memory: '4096' })).toEqual({ memory: '4096' });
  });
});
