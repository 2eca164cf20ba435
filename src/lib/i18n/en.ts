/** Every string the page shows, in English. vi.ts must have the same keys (the type says so). */
import type { ErrorKind } from '../../core/errors.ts';

const kinds: Record<ErrorKind | 'internal' | 'worker', string> = {
  'invalid-format': 'This file is not a valid image of its format',
  unsupported: 'This image uses a feature diskimg does not handle yet',
  corrupt: 'The image is damaged: its tables contradict each other',
  limit: 'The image asks for more than diskimg (and QEMU) accept',
  'not-found': 'A file the image needs is missing',
  io: 'Reading or writing a file failed',
  usage: 'This request cannot be carried out',
  aborted: 'Cancelled',
  'needs-passphrase': 'This image is encrypted: its passphrase is needed',
  'wrong-passphrase': 'The passphrase does not unlock this image',
  internal: 'Something went wrong inside diskimg',
  worker: 'The page could not start its engine (a Web Worker); reload the page and try again',
};

export const en = {
  lang: { label: 'Language', en: 'English', vi: 'Tiếng Việt' },
  copy: { button: 'Copy', done: 'Copied', failed: 'Copy failed: select the text' },
  app: {
    tagline: 'qemu-img in your browser: inspect and convert virtual-machine disk images. Your files never leave this machine.',
    reading: (name: string) => `Reading ${name}…`,
    reads:
      'Reads qcow2, raw, VMDK (and OVA), VHD, VHDX, VDI, QED, qcow, Parallels, Bochs, cloop, DMG and LUKS disk images, and ISO 9660 / UDF discs. Writes qcow2, raw, VMDK, VHD, VHDX, VDI and OVA. Works offline once loaded.',
    replaceRunning: (running: string, next: string) => `${running} is still being converted. Cancel that conversion and open ${next}?`,
    replacedJob: (name: string) => `The conversion of ${name} was cancelled; nothing of it was saved.`,
  },
  opener: {
    button: 'Open a disk image…',
    dropHint: 'or drop it anywhere on the page — with its extent and backing files, if it has any',
    pickHint: 'Choose it together with its extent and backing files, if it has any.',
    inputLabel: 'Open disk image',
  },
  facts: {
    heading: 'Facts',
    format: 'Format',
    isoImage: 'ISO 9660 disc image',
    udfImage: 'UDF disc image',
    virtualSize: 'Virtual size',
    fileSize: 'File size',
    bytes: (n: number) => `${n.toLocaleString('en')} bytes`,
    clusterSize: 'Cluster size',
    version: 'Version',
    versionText: (compat: string, compression: string) =>
      `qcow2 ${compat === '1.1' ? 'v3 (compat 1.1)' : 'v2 (compat 0.10)'}, compression ${compression}`,
    backingFile: 'Backing file',
    formatProbed: 'format probed',
    snapshots: 'Snapshots',
    state: 'State',
    corrupt: 'marked corrupt: QEMU will open it read-only until it is repaired',
    dirty: 'not cleanly shut down (dirty): refcounts may need a rebuild',
    encryption: 'Encryption',
    json: 'qemu-img info --output=json',
    noFormat: 'No disk image format was recognised in this file: it is read as a raw disk, byte for byte, as qemu-img reads it.',
    /** What each format is, for people who know the hypervisor rather than qemu-img's name. */
    kinds: {
      qcow2: 'QEMU/KVM disk',
      raw: 'raw disk',
      vmdk: 'VMware disk',
      vpc: 'VHD (Virtual PC, Hyper-V, Azure)',
      vhdx: 'Hyper-V disk (VHDX)',
      vdi: 'VirtualBox disk',
      qcow: 'old QEMU disk (qcow version 1)',
      qed: 'QEMU enhanced disk (QED)',
      parallels: 'Parallels disk',
      bochs: 'Bochs disk',
      cloop: 'compressed loop image (cloop)',
      dmg: 'macOS disk image (DMG)',
      luks: 'LUKS-encrypted volume',
    } as Record<string, string>,
  },
  chain: {
    heading: 'Backing chain',
    overlayIntro: (name: string) =>
      `This image is an overlay: the clusters it does not hold come from ${name}. Choose that file (and its own backing file, down the chain) to see and convert the whole disk.`,
    choose: 'Choose backing files',
    missing: (name: string) => `${name} — not chosen yet`,
    holds: (held: string, size: string) => `holds ${held} of ${size}`,
    top: 'this image',
    layer: (depth: number) => `backing layer ${depth}`,
    mergeHeading: 'Merge the chain into one file',
    merge: (top: string, layers: number) =>
      `Convert (below) writes the whole disk — ${top} and its ${layers} backing file${layers === 1 ? '' : 's'} — as one new image that needs no backing file. The files you opened stay as they are.`,
    commitNote: (top: string, backing: string) =>
      `qemu-img commit does the merge in place instead: it writes ${top}’s data into ${backing} itself, so every other image built on ${backing} sees changed data, and ${top} is emptied. To get the merged file with commit and leave the originals alone, run it on copies.`,
    commitSummary: 'The same with qemu-img commit, on copies',
    commitOutput: (name: string) => `${name} then holds the whole disk, in the format of the bottom file.`,
  },
  ova: {
    heading: 'Virtual appliance (OVA)',
    intro: (vm: string, disks: number) =>
      `${vm ? `The VM “${vm}”` : 'This appliance'} has ${disks} disk${disks === 1 ? '' : 's'}. The facts, the map and the conversion below are of the disk chosen here; each is read in place, nothing is unpacked.`,
    choose: 'Disk',
  },
  needs: {
    intro: (name: string) =>
      `This image keeps part of itself in another file, ${name} (a VMDK's extent, a data file). The browser only lets diskimg read the files you choose: choose that one too — or open the image again together with all its files.`,
    choose: 'Choose the missing files',
  },
  map: {
    heading: 'Allocation map',
    intro: 'Where the disk’s data lives, from its first byte (left) to its last (right).',
    data: 'data',
    compressed: 'compressed',
    zero: 'zeros',
    unallocated: 'unallocated (reads as zeros)',
    backing: 'from a backing file',
    missing: 'in a backing file not chosen yet',
    zoomIn: 'Zoom in',
    zoomOut: 'Zoom out',
    reset: 'Whole disk',
    range: (from: string, to: string) => `${from} – ${to}`,
    computing: 'Reading the image’s tables…',
    summary: (data: string, zero: string, unallocated: string) => `${data} of data, ${zero} of zeros, ${unallocated} unallocated`,
    description: 'A bar along the virtual disk coloured by what each part holds; use the buttons or click a part to zoom.',
  },
  snapshots: {
    heading: 'Internal snapshots',
    name: 'Name',
    date: 'Taken',
    vmClock: 'VM clock',
    vmState: 'VM state',
    export: 'Export this state',
    exporting: 'chosen for export below',
    noState: 'disk only',
  },
  check: {
    heading: 'Check',
    run: 'Check the image',
    running: 'Checking every table and reference count…',
    clean: 'No errors were found on the image.',
    allocated: (allocated: number, total: number, percent: string) =>
      `${allocated.toLocaleString('en')} of ${total.toLocaleString('en')} clusters allocated (${percent} %).`,
    fragmented: (percent: string) =>
      `${percent} % of the allocated clusters are fragmented (not right after the previous one on disk). This affects speed a little on spinning disks, never correctness; converting the image lays them out in order again.`,
    compressed: (percent: string) => `${percent} % of the allocated clusters are compressed.`,
    leaks: (n: number) =>
      `${n} leaked cluster${n === 1 ? '' : 's'}: space in the file that is marked used but belongs to nothing — usually left by a VM or a qemu-img job that stopped abruptly. Harmless to the data; it only wastes space. qemu-img check -r leaks reclaims it, and converting the image drops it.`,
    corruptions: (n: number) =>
      `${n} error${n === 1 ? '' : 's'}: the image’s tables contradict each other, so some data may be lost or wrong. Do not start a VM from it. Keep a copy, then try qemu-img check -r all on the copy, or convert it to a new image and check the guest’s filesystems.`,
    unchecked: 'The image has no reference counts to check (it is not a qcow2 file).',
  },
  convert: {
    heading: 'Convert',
    destination: 'Destination',
    destinationCustom: 'choose the format yourself',
    destinations: {
      kvm: 'KVM / libvirt (qcow2)',
      proxmox: 'Proxmox VE (qcow2)',
      esxi: 'VMware ESXi / vCenter (OVA)',
      workstation: 'VMware Workstation / Fusion (VMDK)',
      virtualbox: 'VirtualBox (VDI)',
      hyperv: 'Hyper-V (VHDX)',
      azure: 'Azure (fixed VHD)',
    },
    formatNames: {
      qcow2: 'qcow2',
      raw: 'raw',
      vmdk: 'vmdk (VMware)',
      vpc: 'vhd (vpc: Hyper-V, Azure)',
      vdi: 'vdi (VirtualBox)',
      vhdx: 'vhdx (Hyper-V)',
      ova: 'ova (VMware, VirtualBox)',
    },
    azureSize: (size: string) => `Azure takes only fixed VHDs of a whole number of MiB: the new disk is ${size} (the rest reads as zeros).`,
    importHeading: 'Take it in',
    importSteps: {
      kvm: 'Start a VM on it (virt-install), or paste the libvirt disk below into a domain:',
      proxmox: 'On the Proxmox host, with the file copied there, import it into a VM (its VMID and storage yours):',
      esxi: 'In the vSphere Client: Deploy OVF Template, then this file. Or with ovftool:',
      workstation:
        'In Workstation or Fusion: New Virtual Machine → Custom → I will install the operating system later → Use an existing virtual disk → this file.',
      virtualbox: 'Make a VM and attach the disk (VBoxManage), or add it in the VM’s Storage settings:',
      hyperv: 'In PowerShell, with the file copied to the host (Generation 2 boots UEFI guests; a BIOS guest needs -Generation 1):',
      azure: 'Upload it as a managed disk with the Azure CLI and AzCopy (your resource group and names):',
    },
    outputFormat: 'Output format',
    compression: 'Compression',
    none: 'none',
    clusterSize: 'Cluster size',
    compat: 'Compatibility',
    compat11: '1.1 (QEMU 1.1+)',
    compat010: '0.10 (oldest QEMU)',
    refcountBits: 'Refcount width',
    lazyRefcounts: 'Lazy refcounts',
    diskState: 'Disk state',
    current: 'current',
    snapshotOption: (name: string, id: string) => `snapshot ${name} (id ${id})`,
    button: 'Convert',
    cancel: 'Cancel',
    needsBacking: 'Choose the backing files above first: without them the merged disk cannot be made.',
    failed: 'Conversion failed',
    downloaded: (name: string) => `${name} was downloaded`,
    saved: (name: string) => `${name} was saved`,
    sizes: (output: string, input: string) => `The new file takes ${output}; the files opened took ${input}.`,
    commandCopy: 'the qemu-img command',
    commandOva: (disk: string) =>
      `qemu-img has no OVA driver: an OVA is a tar archive, so the first line takes ${disk} out of it (tar needs the room for it), and qemu-img converts that.`,
    commandSecrets: (files: string[]) =>
      `Before running it, make ${files.map((f) => `${f} holding ${f === 'passphrase.txt' ? 'the image’s passphrase' : 'the new image’s passphrase'}`).join(' and ')}, with no newline at the end (printf '%s' … > ${files[0]}); remove ${files.length === 1 ? 'it' : 'them'} afterwards. The passphrase itself never goes on a command line, where other users and the shell’s history could see it.`,
    cancelled: 'Cancelled: nothing was saved',
    cancelledIncomplete: 'Cancelled; the unfinished output could not be removed (it is incomplete)',
    command: 'Equivalent qemu-img command',
    progressLabel: 'Conversion progress',
    progressText: (done: string, total: string, percent: string) => `${done} of ${total} (${percent} %)`,
    speed: (speed: string) => `writing ${speed} MB/s`,
    left: (left: string) => `${left} left`,
    route: {
      handle: 'Writing straight into the file you chose.',
      opfs: 'This browser cannot write into a file you choose, so the image is built in its private storage and downloaded when complete.',
      stream: (full: boolean, size: string, free: string) =>
        full
          ? `The browser’s private storage has ${free} free and the image may take up to ${size}, so it is downloaded as it converts.`
          : 'This window gives the page no private storage (private windows and some browsers do not), so the image is downloaded as it converts.',
      memory: (size: string) =>
        `This window can neither store the image nor stream its download, so this small image (up to ${size}) is built in memory and then downloaded.`,
    },
    tooBig: (size: string, free: string | undefined, limit: string) =>
      `The new image may take up to ${size} (a conservative estimate), more than this window can hold: ${free === undefined ? 'it has no private storage' : `its private storage has ${free} free`}, no service worker to stream the download, and at most ${limit} in memory. Open diskimg in a normal window, or in a browser that can save into a file (Chromium), or choose qcow2 output, which holds only the data.`,
    seconds: (s: number) => `${s} s`,
    minutes: (m: number, s: number) => `${m} min ${s} s`,
  },
  after: {
    heading: 'Use it with libvirt',
    intro:
      'Shut the VM down first. Then run virsh edit with the VM’s name and replace its <disk> element with this one (change the path to where the new file is):',
    snippetCopy: 'the libvirt disk element',
    keep: 'The old image stays where it was until you remove it by hand — keep it until the VM boots from the new one.',
  },
  crypt: {
    heading: 'Encrypted image',
    intro:
      'This image is encrypted. Type its passphrase to see its partitions and convert it. The passphrase stays in this page’s memory: it is never sent anywhere or stored.',
    label: 'Passphrase',
    unlock: 'Unlock',
    unlocked: 'Unlocked for this page.',
    aesIntro:
      'Legacy AES encryption stores no check of its passphrase: diskimg (like qemu-img) cannot tell a wrong one, which reads as garbage. diskimg checks that the decrypted disk starts like a disk.',
    aesLooksRight: 'The decrypted disk starts like a disk (a partition table or a file system was found).',
    aesLooksWrong:
      'The decrypted disk does not start like a disk: no partition table and no file system. The passphrase is probably wrong — a conversion would write garbage.',
    another: 'Enter another passphrase',
    encryptOutput: 'Encrypt the new image (LUKS, as qemu-img -o encrypt.format=luks)',
    outputPassphrase: 'Passphrase for the new image',
    needsPassphrase: 'Type a passphrase for the new image first.',
    confirmPassphrase: 'The same passphrase again',
    mismatch: 'The two passphrases differ: type the same one twice.',
    decrypting:
      'This image is encrypted, but the new one will not be: anyone with the file can read the disk. Tick “Encrypt the new image” to keep it encrypted.',
    decryptingRaw:
      'This image is encrypted, but the new one will not be: anyone with the file can read the disk. Only an uncompressed qcow2 output can be encrypted.',
  },
  partitions: {
    heading: 'Partitions',
    scheme: (scheme: string): string =>
      scheme === 'gpt'
        ? 'GUID partition table (GPT)'
        : scheme === 'mbr'
          ? 'MBR partition table'
          : 'No partition table: a file system on the whole disk',
    index: '#',
    start: 'Start',
    size: 'Size',
    type: 'Type',
    filesystem: 'File system',
    label: 'Label',
    uuid: 'UUID',
    browse: (n: number) => `Browse the files of partition ${n}`,
    browseVolume: (name: string) => `Browse the files of logical volume ${name}`,
    browseEncrypted: (n: number) => `Unlock and browse partition ${n}`,
    volume: (layout: string) => `LVM logical volume (${layout})`,
    unreadableVolume: (why: string) => `Cannot be read: ${why}`,
  },
  files: {
    heading: (n: number, type: string, volume?: string) =>
      `Files in ${volume ? `logical volume ${volume} (partition ${n})` : `partition ${n}`}${type ? ` (${type})` : ''}`,
    root: 'Root folder',
    lockedHeading: (n: number) => `Encrypted partition ${n} (LUKS)`,
    lockedIntro:
      'Type the passphrase of this partition to browse the files inside. It stays in this page’s memory: it is never sent anywhere or stored.',
    owner: 'Owner (user, group)',
    links: 'Links',
    streams: 'Alternate data streams',
  },
  disc: {
    summary: 'Disc',
    label: 'Label',
    size: 'Size',
    created: 'Created',
    modified: 'Modified',
    madeBy: 'Made by',
    publisher: 'Publisher',
    boots: 'Boots on',
    bootsNot: 'does not boot (no El Torito boot catalog)',
    fileSystems: 'File systems',
    partitions: 'Partitions',
    none: 'none',
    namesFrom: (kind: string) => `names shown from ${kind}`,
    files: 'Files',
    root: 'Disc root',
    up: 'Up one folder',
    entries: (n: number) => `${n.toLocaleString('en')} entries`,
    loading: 'Reading the folder…',
    name: 'Name',
    type: 'Type',
    typeName: {
      file: 'file',
      dir: 'folder',
      symlink: 'link',
      block: 'block device',
      char: 'character device',
      fifo: 'FIFO (named pipe)',
      socket: 'socket',
    } as Record<string, string>,
    device: 'Device numbers',
    zisofs: (version: number, stored: string) =>
      `zisofs${version === 2 ? '2' : ''}: stored compressed, ${stored} on the disc (extracted decompressed)`,
    bootDamage: 'Boot catalog damage',
    truncated: (missing: string, count: number, more: boolean) =>
      `The image is truncated: ${missing} of the disc are missing; ${count.toLocaleString('en')}${more ? ' or more' : ''} file${count === 1 ? '' : 's'} lose data:`,
    truncatedMore: (n: number) => `… and ${n.toLocaleString('en')} more`,
    open: 'Open folder',
    select: 'Show details of',
    details: 'Details',
    mode: 'Mode',
    target: 'Link target',
    extract: 'Extract this file',
    extractFolder: 'Download this folder as .zip',
    extracting: (done: string) => `Extracting… ${done} written`,
    extracted: (name: string) => `${name} is ready`,
    layout: 'Disc layout',
    layoutIntro: 'What each part of the disc holds, from its first byte (left) to its last (right).',
    regions: {
      'system-area': 'system area',
      descriptors: 'volume descriptors',
      'path-tables': 'path tables',
      directories: 'directories',
      files: 'file data',
      'boot-catalog': 'boot catalog',
      'boot-image': 'boot images',
      partition: 'partitions',
    } as Record<string, string>,
    checksums: 'Checksums',
    compute: 'Compute SHA-256',
    computeOthers: 'Compute SHA-1 and MD5',
    computing: 'Reading the whole image…',
    paste: 'Paste the SHA256SUMS file (or one line of it) that came with the image',
    match: (algorithm: string) => `Match: the ${algorithm} checksum is exactly the one listed for this file.`,
    mismatch: (algorithm: string) =>
      `Mismatch: the ${algorithm} checksum differs from the one listed. The download is damaged or not the file you think: do not use it.`,
    notListed: (name: string) => `${name} is not listed in the pasted text.`,
    listedAs: (algorithm: string, listed: string, name: string) =>
      `The ${algorithm} checksum matches ${listed} in the list: ${name} is that file under another name.`,
    computeToCheck: 'Compute the checksums above to check the file against this text.',
  },
  amend: {
    heading: 'Change the image’s options (amend), in a new file',
    intro:
      'qemu-img amend changes compat, refcount_bits, lazy_refcounts and LUKS passphrases in place. Here the image stays as it is: Convert to qcow2 with the options above writes a new file holding the same disk.',
    passphrase:
      'To give it a new passphrase: unlock it above, then tick “Encrypt the new image” and type the new one. The new file is encrypted afresh (a new key), which qemu-img does by this same convert.',
    snapshots: (count: number) =>
      `Convert writes the current disk (or the state chosen) only: the ${count} internal snapshot${count === 1 ? '' : 's'} of this image will not be in the new file. qemu-img amend on a copy keeps them:`,
  },
  snapshotFile: {
    heading: 'Snapshots, in a new file',
    intro:
      'qemu-img snapshot changes the image in place; here the image you opened stays as it is, and a new file is written: this image with one snapshot added or removed.',
    createLabel: 'Name of the new snapshot',
    create: 'Write a copy with this snapshot',
    taken: 'This image already has a snapshot of that name.',
    deleteLabel: 'Snapshot to remove',
    delete: 'Write a copy without it',
    command: 'Equivalent commands',
  },
  resize: {
    label: 'New virtual size',
    hint: (current: string) => `Leave empty to keep ${current}. As qemu-img writes it: 20G, 512M, or bytes.`,
    syntax: 'Write a size as qemu-img reads it: a number with an optional k, M, G or T (20G).',
    sector: 'The size must be a whole number of 512-byte sectors.',
    grow: (from: string, to: string) =>
      `The disk grows from ${from} to ${to}; the new space reads as zeros. The partition and the file system inside do not grow by themselves: the guest must grow them once it runs on the new disk.`,
    guestHeading: 'Growing the partition and file system inside the guest',
    linux: 'Linux (the disk /dev/vda, its partition 1; growpart is in cloud-guest-utils or cloud-utils-growpart):',
    ext4: 'then for ext2/3/4:',
    xfs: 'or for XFS (mounted at /):',
    windows: 'Windows: Disk Management (diskmgmt.msc) → right-click the volume → Extend Volume; or in PowerShell:',
    shrink: (from: string, to: string) =>
      `The disk shrinks from ${from} to ${to}: whatever lies past ${to} is lost. Shrink the file system and partition inside the guest first. The page refuses the job if the disk holds data past the new end.`,
    belowData: (end: string, smallest: number) =>
      `The disk holds data up to byte ${end}: it cannot be made smaller than ${smallest} bytes without losing it.`,
    confirmShrink: (to: string) => `I understand that everything past ${to} is lost`,
  },
  error: {
    kinds,
    where: 'Where',
    file: 'file',
    field: 'field',
    /** A field's name as the engine gives it (English is its language). */
    fieldName: (field: string) => field,
    offset: 'offset',
    value: 'value',
  },
};

export type Messages = typeof en;
