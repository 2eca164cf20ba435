/**
 * OVA: a tar (ustar) whose first file is an OVF descriptor, followed by the disks it names.
 * qemu-img has no OVA driver (it reads the tar as raw); we open the chosen disk inside the archive
 * in place — `--ova-disk N` (OpenOptions.ovaDisk), 0-based in the OVF's DiskSection order, the
 * first by default — as whatever format it is (a streamOptimized VMDK, usually).
 */
import { DiskImgError } from '../../errors.ts';
import type { FormatDriver } from '../driver.ts';
import { OvaLayer, type OvaDiskFacts } from './layer.ts';
import { parseOvf, type Ovf } from './ovf.ts';
import { headerName, isTarHeader, listTar, type TarMember } from './tar.ts';
import { WindowStorage } from './window.ts';
import { latin1 } from '../../bytes.ts';

/** An OVF descriptor larger than this is not one. */
const MAX_OVF = 4 * 1024 * 1024;

export const ovaDriver: FormatDriver = {
  name: 'ova',
  title: 'OVA (OVF package in a tar): reads one of its disks in place',
  extensions: ['ova'],
  probe(head) {
    return isTarHeader(head) && headerName(head).toLowerCase().endsWith('.ovf') ? { score: 100 } : null;
  },
  async open(storage, context) {
    const file = storage.name;
    const members = await listTar(storage);
    const descriptor = members[0];
    if (!descriptor || !descriptor.name.toLowerCase().endsWith('.ovf'))
      throw new DiskImgError('invalid-format', 'OVA: the first file of the archive is not an OVF descriptor (.ovf)', {
        file,
        field: 'tar member',
        value: descriptor?.name ?? '',
      });
    if (descriptor.size > MAX_OVF)
      throw new DiskImgError('limit', `OVA: the OVF descriptor of ${descriptor.size} bytes is larger than ${MAX_OVF}`, {
        file,
        field: 'ovf',
        value: descriptor.size,
      });
    const ovf = parseOvf(latin1(await storage.read(descriptor.offset, descriptor.size)));
    const disks = diskList(ovf, members);
    if (disks.length === 0)
      throw new DiskImgError('invalid-format', `OVA: ${descriptor.name} names no disk`, { file, field: 'DiskSection' });
    const index = context.options.ovaDisk ?? 0;
    if (!Number.isInteger(index) || index < 0 || index >= disks.length) {
      throw new DiskImgError(
        'usage',
        `OVA: there is no disk ${index}; ${descriptor.name} names ${disks.length} (--ova-disk 0 to ${disks.length - 1})`,
        { file, field: 'ova disk', value: index },
      );
    }
    const chosen = disks[index];
    if (chosen.compression && chosen.compression !== 'identity')
      throw new DiskImgError(
        'unsupported',
        `OVA: disk ${index} ('${chosen.href}') is ${chosen.compression}-compressed, which is not supported`,
        { file, field: 'compression', value: chosen.compression },
      );
    if (chosen.chunkSize)
      throw new DiskImgError('unsupported', `OVA: disk ${index} ('${chosen.href}') is split in chunks, which is not supported`, {
        file,
        field: 'chunkSize',
        value: chosen.chunkSize,
      });
    if (!chosen.member)
      throw new DiskImgError('not-found', `OVA: disk ${index} ('${chosen.href}') is not in the archive`, {
        file,
        field: 'href',
        value: chosen.href,
      });
    const member = new WindowStorage(storage, chosen.member.offset, chosen.member.size, `${file}/${chosen.member.name}`);
    const inner = await context.openNested(member);
    return new OvaLayer(storage, inner, chosen.member.offset, {
      ...(ovf.systemId !== undefined ? { 'vm-id': ovf.systemId } : {}),
      ...(ovf.systemName !== undefined ? { 'vm-name': ovf.systemName } : {}),
      disk: index,
      disks: disks.map((d) => d.facts),
    });
  },
};

interface DiskEntry {
  href: string;
  compression?: string;
  chunkSize?: number;
  member?: TarMember;
  facts: OvaDiskFacts;
}

/** The DiskSection's disks in order, each with its File and tar member; without a DiskSection, every File. */
function diskList(ovf: Ovf, members: TarMember[]): DiskEntry[] {
  const memberNamed = (href: string) =>
    members.find((m) => m.name === href || m.name === `./${href}` || m.name.replace(/^\.\//, '') === href);
  const entry = (diskId: string, fileRef: string | undefined, capacity?: number, format?: string): DiskEntry | undefined => {
    const ref = ovf.files.find((f) => f.id === fileRef);
    if (!ref) return undefined;
    const facts: OvaDiskFacts = { 'disk-id': diskId, filename: ref.href };
    if (capacity !== undefined) facts['virtual-size'] = capacity;
    if (format !== undefined) facts.format = format;
    return { href: ref.href, compression: ref.compression, chunkSize: ref.chunkSize, member: memberNamed(ref.href), facts };
  };
  const fromDisks = ovf.disks.map((d) => entry(d.diskId, d.fileRef, d.capacity, d.format)).filter((d): d is DiskEntry => d !== undefined);
  if (fromDisks.length > 0) return fromDisks;
  return ovf.files.map((f) => entry(f.id, f.id)!);
}
