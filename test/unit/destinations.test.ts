/** Each destination's output is one the engine writes, with options its format takes. */
import { describe, expect, it } from 'vitest';
import { outputDriver } from '../../src/core/formats/outputs.ts';
import { parseOutputOptions, resolveOutputOptions } from '../../src/core/formats/output/driver.ts';
import { parseOvaOptions } from '../../src/core/formats/ova/write/options.ts';
import { azureDiskSize, DESTINATIONS, DESTINATION_OUTPUTS, importCommands, MiB, vmName } from '../../src/lib/destinations.ts';

describe('destinations', () => {
  for (const destination of DESTINATIONS) {
    it(`${destination}: its format and options are accepted as the CLI accepts them`, () => {
      const { format, options } = DESTINATION_OUTPUTS[destination];
      const given = new Map(Object.entries(options));
      if (format === 'ova') {
        expect(parseOvaOptions(given)).toHaveProperty('settings');
        return;
      }
      if (format === 'raw' || format === 'qcow2') {
        expect(given.size).toBe(0);
        return;
      }
      const driver = outputDriver(format);
      expect(() => resolveOutputOptions(driver, parseOutputOptions(driver, given), 64 * MiB, { fileName: 'disk.out' })).not.toThrow();
      // One file: a page saves one (a monolithicFlat VMDK's extent could not go with it).
      const resolved = resolveOutputOptions(driver, parseOutputOptions(driver, given), 64 * MiB, { fileName: 'disk.out' });
      expect(driver.companions?.(resolved) ?? []).toEqual([]);
    });
  }

  it("Azure's disk is grown to the next whole MiB, and not past it", () => {
    expect(azureDiskSize(MiB)).toBe(MiB);
    expect(azureDiskSize(MiB + 1)).toBe(2 * MiB);
    expect(azureDiskSize(10 * MiB - 512)).toBe(10 * MiB);
  });

  it('commands quote names a shell or PowerShell would split, and state the upload size', () => {
    expect(vmName('my disk (1).vhdx')).toBe('my-disk-1-');
    expect(importCommands('virtualbox', 'my disk.vdi', 1).at(-1)).toContain("--medium 'my disk.vdi'");
    expect(importCommands('hyperv', 'a$b.vhdx', 1)[0]).toContain('"C:\\VMs\\a`$b.vhdx"');
    expect(importCommands('azure', 'disk.vhd', 10 * MiB + 512)[0]).toContain(`--upload-size-bytes ${10 * MiB + 512}`);
    expect(importCommands('workstation', 'disk.vmdk', 1)).toEqual([]);
  });
});
