/** The libvirt <disk> element for a converted image, to paste with `virsh edit`. */
import type { OutputFormat } from '../core/pipeline/convert-image.ts';

const escapeXml = (text: string) =>
  text.replace(/[<>&'"]/g, (c) => `&${{ '<': 'lt', '>': 'gt', '&': 'amp', "'": 'apos', '"': 'quot' }[c]};`);

/** libvirt's default image pool; the user replaces it with where the file really is. */
export const DEFAULT_IMAGE_DIR = '/var/lib/libvirt/images';

/**
 * A disk on virtio; a disc (an ISO) as a read-only CD-ROM on SATA, which every guest and firmware
 * boots from without drivers.
 */
export function libvirtDisk(fileName: string, format: OutputFormat, device: 'disk' | 'cdrom' = 'disk'): string {
  const source = `  <source file='${escapeXml(`${DEFAULT_IMAGE_DIR}/${fileName}`)}'/>`;
  const driver = `  <driver name='qemu' type='${format}'/>`;
  if (device === 'cdrom')
    return [`<disk type='file' device='cdrom'>`, driver, source, `  <target dev='sda' bus='sata'/>`, `  <readonly/>`, `</disk>`].join('\n');
  return [`<disk type='file' device='disk'>`, driver, source, `  <target dev='vda' bus='virtio'/>`, `</disk>`].join('\n');
}
