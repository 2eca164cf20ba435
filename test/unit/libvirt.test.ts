import { describe, expect, it } from 'vitest';
import { libvirtDisk } from '../../src/lib/libvirt.ts';

describe('libvirt <disk> element', () => {
  it('names the driver type and the new file', () => {
    expect(libvirtDisk('VM.qcow2', 'qcow2')).toBe(
      "<disk type='file' device='disk'>\n  <driver name='qemu' type='qcow2'/>\n  <source file='/var/lib/libvirt/images/VM.qcow2'/>\n  <target dev='vda' bus='virtio'/>\n</disk>",
    );
  });

  it('a disc becomes a read-only CD-ROM on SATA, not a virtio disk', () => {
    expect(libvirtDisk('debian.raw', 'raw', 'cdrom')).toBe(
      "<disk type='file' device='cdrom'>\n  <driver name='qemu' type='raw'/>\n  <source file='/var/lib/libvirt/images/debian.raw'/>\n  <target dev='sda' bus='sata'/>\n  <readonly/>\n</disk>",
    );
  });

  it('escapes what XML cannot hold in an attribute', () => {
    expect(libvirtDisk(`Tom's & <disk>.raw`, 'raw')).toContain(`file='/var/lib/libvirt/images/Tom&apos;s &amp; &lt;disk&gt;.raw'`);
  });
});
