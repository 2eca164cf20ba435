/** The libvirt <disk> element for a converted image, to paste with `virsh edit`. */
import type { OutputFormat } from '../core/pipeline/convert-image.ts';

const escapeXml = (text: string) => text.replace(/[<>&'"]/g, (c) => `&${({ '<': 'lt', '>': 'gt', '&': 'amp', "'": 'apos', '"': 'quot' })[c]};`);

/** libvirt's default image pool; the user replaces it with where the file really is. */
export const DEFAULT_IMAGE_DIR = '/var/lib/libvirt/images';

export function libvirtDisk(fileName: string, format: OutputFormat): string {
  return [
    `<disk type='file' device='disk'>`,
    `  <driver name='qemu' type='${format}'/>`,
    `  <source file='${escapeXml(`${DEFAULT_IMAGE_DIR}/${fileName}`)}'/>`,
    `  <target dev='vda' bus='virtio'/>`,
    `</disk>`,
  ].join('\n');
}
