import { describe, expect, it } from 'vitest';
import { libvirtDisk } from '../../src/lib/libvirt.ts';

describe('libvirt <disk> element', () => {
  it('names the driver type and the new file', () => {
    expect(libvirtDisk('VM.qcow2', 'qcow2')).toBe(
      "<disk type='file' device='disk'>\n  <driver name='qemu' type='qcow2'/>\n  <source file='/var/lib/libvirt/images/VM.qcow2'/>\n  <target dev='vda' bus='virtio'/>\n</disk>",
    );
  });

  it('escapes what XML cannot hold in an attribute', () => {
    expect(libvirtDisk(`Tom's & <disk>.raw`, 'raw')).toContain(`file='/var/lib/libvirt/images/Tom&apos;s &amp; &lt;disk&gt;.raw'`);
  });
});
