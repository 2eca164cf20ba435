/**
 * The OVF 1.0 descriptor of a one-disk virtual machine, with the sections VMware (ovftool, ESXi,
 * vCenter) and VirtualBox require to import it: References (the disk file and its size),
 * DiskSection (capacity, populated size, the streamOptimized VMDK format URI), NetworkSection,
 * and a VirtualSystem with its OperatingSystemSection and VirtualHardwareSection (CPUs, memory, a
 * disk controller, the disk, a NIC). Item elements list their rasd: children in schema order.
 */

export type OvaController = 'scsi' | 'sata' | 'ide';

export interface OvfMachine {
  name: string;
  cpus: number;
  /** MiB. */
  memory: number;
  controller: OvaController;
  diskFile: string;
  /** The VMDK file's length in bytes. */
  diskFileSize: number;
  /** The guest disk's size in bytes. */
  capacity: number;
  /** Guest bytes the VMDK holds (its grains). */
  populatedSize: number;
}

export const STREAM_OPTIMIZED_FORMAT = 'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized';

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** CIM ResourceType and ResourceSubType of each controller (OVF's CIM_ResourceAllocationSettingData). */
const CONTROLLERS: Record<OvaController, { type: number; subType: string; caption: string }> = {
  scsi: { type: 6, subType: 'lsilogic', caption: 'SCSI Controller 0' },
  sata: { type: 20, subType: 'AHCI', caption: 'SATA Controller 0' },
  ide: { type: 5, subType: 'PIIX4', caption: 'IDE Controller 0' },
};

function item(fields: Array<[string, string | number]>): string {
  return [
    '      <Item>',
    ...fields.map(([key, value]) => `        <rasd:${key}>${escape(String(value))}</rasd:${key}>`),
    '      </Item>',
  ].join('\n');
}

export function ovfEnvelope(machine: OvfMachine): string {
  const name = escape(machine.name);
  const controller = CONTROLLERS[machine.controller];
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="${escape(machine.diskFile)}" ovf:id="file1" ovf:size="${machine.diskFileSize}"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="${machine.capacity}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="${STREAM_OPTIMIZED_FORMAT}" ovf:populatedSize="${machine.populatedSize}"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="VM Network">
      <Description>The VM Network network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="${name}">
    <Info>A virtual machine</Info>
    <Name>${name}</Name>
    <OperatingSystemSection ovf:id="1" vmw:osType="otherGuest">
      <Info>The kind of installed guest operating system</Info>
      <Description>Other</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>${name}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-07</vssd:VirtualSystemType>
      </System>
${item([
  ['AllocationUnits', 'hertz * 10^6'],
  ['Description', 'Number of Virtual CPUs'],
  ['ElementName', `${machine.cpus} virtual CPU(s)`],
  ['InstanceID', 1],
  ['ResourceType', 3],
  ['VirtualQuantity', machine.cpus],
])}
${item([
  ['AllocationUnits', 'byte * 2^20'],
  ['Description', 'Memory Size'],
  ['ElementName', `${machine.memory}MB of memory`],
  ['InstanceID', 2],
  ['ResourceType', 4],
  ['VirtualQuantity', machine.memory],
])}
${item([
  ['Address', 0],
  ['Description', `${controller.caption.split(' ')[0]} Controller`],
  ['ElementName', controller.caption],
  ['InstanceID', 3],
  ['ResourceSubType', controller.subType],
  ['ResourceType', controller.type],
])}
${item([
  ['AddressOnParent', 0],
  ['ElementName', 'disk0'],
  ['HostResource', 'ovf:/disk/vmdisk1'],
  ['InstanceID', 4],
  ['Parent', 3],
  ['ResourceType', 17],
])}
${item([
  ['AddressOnParent', 7],
  ['AutomaticAllocation', 'true'],
  ['Connection', 'VM Network'],
  ['Description', 'E1000 ethernet adapter on "VM Network"'],
  ['ElementName', 'ethernet0'],
  ['InstanceID', 5],
  ['ResourceSubType', 'E1000'],
  ['ResourceType', 10],
])}
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}
