/** A small OVF descriptor for test OVAs: the given disks (streamOptimized VMDKs) of one VM. */
export function ovf(disks: Array<{ file: string; capacity: number }>, options: { diskSection?: boolean; name?: string } = {}): string {
  const files = disks.map((d, i) => `    <File ovf:href="${d.file}" ovf:id="file${i + 1}"/>`).join('\n');
  const section = disks
    .map(
      (d, i) =>
        `    <Disk ovf:capacity="${d.capacity}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk${i + 1}" ovf:fileRef="file${i + 1}" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>`,
    )
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References>
${files}
  </References>
${options.diskSection === false ? '' : `  <DiskSection>\n    <Info>Virtual disk information</Info>\n${section}\n  </DiskSection>\n`}  <VirtualSystem ovf:id="vm-1">
    <Info>A virtual machine</Info>
    <Name>${options.name ?? 'web &amp; db'}</Name>
    <VirtualHardwareSection><Item><rasd:ElementName>Hard disk 1</rasd:ElementName></Item></VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}
