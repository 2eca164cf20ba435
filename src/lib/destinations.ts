/**
 * Where the disk is going, as data: each hypervisor's format and options (what it imports), and
 * the step that takes the new file in, to paste. Commands name the file as it was saved; the
 * words around them are the page's (i18n), the commands stay as the tools spell them.
 */
import type { OutputFormat } from '../core/pipeline/convert-image.ts';

export const DESTINATIONS = ['kvm', 'proxmox', 'esxi', 'workstation', 'virtualbox', 'hyperv', 'azure'] as const;
export type Destination = (typeof DESTINATIONS)[number];

/** What the page writes for a destination: 'ova' is ours (a streamOptimized VMDK in an OVF package). */
export type PageFormat = OutputFormat | 'ova';

export interface DestinationOutput {
  format: PageFormat;
  /** -o options as qemu-img spells them. */
  options: Record<string, string>;
  /** Azure takes only fixed VHDs of a whole number of MiB: the disk is grown to the next MiB. */
  wholeMiB?: boolean;
}

export const DESTINATION_OUTPUTS: Record<Destination, DestinationOutput> = {
  kvm: { format: 'qcow2', options: {} },
  proxmox: { format: 'qcow2', options: {} },
  // ESXi and vCenter import an OVA (Deploy OVF Template, ovftool); its disk is streamOptimized.
  esxi: { format: 'ova', options: { controller: 'scsi', cpus: '2', memory: '2048' } },
  // Workstation and Fusion open a hosted sparse VMDK as an existing disk.
  workstation: { format: 'vmdk', options: { subformat: 'monolithicSparse', adapter_type: 'lsilogic' } },
  virtualbox: { format: 'vdi', options: {} },
  hyperv: { format: 'vhdx', options: { subformat: 'dynamic' } },
  azure: { format: 'vpc', options: { subformat: 'fixed', force_size: 'on' }, wholeMiB: true },
};

export const MiB = 1024 * 1024;

/** The size Azure's fixed VHD gets: the disk's, up to the next whole MiB. */
export const azureDiskSize = (virtualSize: number): number => Math.ceil(virtualSize / MiB) * MiB;

/** Single-quoted for a POSIX shell when it needs quoting. */
const sh = (s: string) => (/^[\w./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
/** Double-quoted for PowerShell (its backtick and $ escaped). */
const ps = (s: string) => `"${s.replace(/[`$"]/g, '`$&')}"`;

/** The VM's name in the commands: the file's name without its ending, as a tool would take it. */
export const vmName = (fileName: string): string => fileName.replace(/\.[^.]+$/, '').replace(/[^\w.-]+/g, '-') || 'imported';

/**
 * The commands that take `fileName` (saved where the user chose) into the destination, in order.
 * `fileSize` is the new file's size in bytes (Azure's upload states it).
 */
export function importCommands(destination: Destination, fileName: string, fileSize: number): string[] {
  const name = vmName(fileName);
  switch (destination) {
    case 'kvm':
      return [
        `virt-install --name ${sh(name)} --memory 2048 --vcpus 2 --import --disk path=${sh(fileName)},format=qcow2,bus=virtio --os-variant detect=on,require=off --noautoconsole`,
      ];
    case 'proxmox':
      return [
        `qm disk import VMID ${sh(fileName)} local-lvm --format qcow2`,
        'qm set VMID --scsi0 local-lvm:vm-VMID-disk-0 --boot order=scsi0',
      ];
    case 'esxi':
      return [`ovftool --datastore=datastore1 ${sh(fileName)} 'vi://root@ESXI-HOST/'`];
    case 'workstation':
      // Workstation and Fusion take an existing disk in their New Virtual Machine wizard: no command.
      return [];
    case 'virtualbox':
      return [
        `VBoxManage createvm --name ${sh(name)} --ostype Other_64 --register`,
        `VBoxManage modifyvm ${sh(name)} --memory 2048 --cpus 2 --firmware bios`,
        `VBoxManage storagectl ${sh(name)} --name SATA --add sata --controller IntelAhci`,
        `VBoxManage storageattach ${sh(name)} --storagectl SATA --port 0 --device 0 --type hdd --medium ${sh(fileName)}`,
      ];
    case 'hyperv':
      return [`New-VM -Name ${ps(name)} -Generation 2 -MemoryStartupBytes 2GB -VHDPath ${ps(`C:\\VMs\\${fileName}`)}`];
    case 'azure':
      return [
        `az disk create -g RESOURCE-GROUP -n ${sh(name)} --upload-type Upload --upload-size-bytes ${fileSize} --sku standard_lrs`,
        `az disk grant-access -g RESOURCE-GROUP -n ${sh(name)} --access-level Write --duration-in-seconds 86400 --query accessSas -o tsv`,
        `azcopy copy ${sh(fileName)} "SAS-URL-FROM-THE-LINE-ABOVE" --blob-type PageBlob`,
        `az disk revoke-access -g RESOURCE-GROUP -n ${sh(name)}`,
      ];
  }
}
