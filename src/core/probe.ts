/**
 * Format probing by content, as QEMU's bdrv_probe_all: every driver scores the first bytes and
 * the best score wins; raw scores 1, so it wins only when nothing else recognises the file.
 * Formats we recognise but cannot read yet get a clear refusal instead of being read as raw.
 */
import { latin1 } from './bytes.ts';
import { DiskImgError } from './errors.ts';
import type { Storage } from './storage/storage.ts';

export interface ProbeResult {
  format: string;
  score: number;
  /** What the content is, for a raw image whose bytes we recognise (e.g. an ISO 9660 filesystem). */
  content?: string;
  /** Set when we know the format but cannot open it yet: the reason, for the user. */
  unsupported?: string;
}

type Prober = (head: Uint8Array, storage: Storage) => Promise<ProbeResult | null> | ProbeResult | null;

const ascii = (bytes: Uint8Array, at: number, length: number) => latin1(bytes.subarray(at, at + length));
const be32 = (b: Uint8Array, at: number) => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
const le32 = (b: Uint8Array, at: number) => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;

const notYet = (format: string, what: string): ProbeResult => ({
  format,
  score: 100,
  unsupported: `${what} images are not supported yet; convert it with qemu-img first (qemu-img convert -O qcow2)`,
});

const probers: Prober[] = [
  (b) => {
    if (be32(b, 0) !== 0x514649fb) return null;
    const version = be32(b, 4);
    if (version === 1) return notYet('qcow', 'qcow (version 1)');
    return { format: 'qcow2', score: 100 };
  },
  (b) => (ascii(b, 0, 4) === 'KDMV' || ascii(b, 0, 4) === 'COWD' ? notYet('vmdk', 'VMDK') : null),
  (b) => (ascii(b, 0, 21) === '# Disk DescriptorFile' ? notYet('vmdk', 'VMDK (descriptor)') : null),
  (b) => (ascii(b, 0, 8) === 'vhdxfile' ? notYet('vhdx', 'VHDX') : null),
  (b) => (ascii(b, 0, 8) === 'conectix' ? notYet('vpc', 'VHD (vpc)') : null),
  (b) => (le32(b, 0x40) === 0xbeda107f ? notYet('vdi', 'VDI (VirtualBox)') : null),
  (b) => (ascii(b, 0, 4) === 'QED\0' ? notYet('qed', 'QED') : null),
  (b) => (ascii(b, 0, 6) === 'LUKS\xba\xbe' ? notYet('luks', 'LUKS-encrypted') : null),
  async (_b, storage) => {
    // Volume descriptors start at sector 16 (32 KiB); ISO 9660 says CD001, UDF's recognition
    // sequence BEA01/NSR02/NSR03. qemu-img reads both as raw, and so do we.
    if (storage.size < 32768 + 2048) return null;
    const vd = await storage.read(32768, 2048 * 3);
    for (let i = 0; i < 3; i++) {
      const id = ascii(vd, i * 2048 + 1, 5);
      if (id === 'CD001') return { format: 'raw', score: 1, content: 'iso9660' };
      if (id === 'BEA01' || id === 'NSR02' || id === 'NSR03') return { format: 'raw', score: 1, content: 'udf' };
    }
    return null;
  },
];

export async function probeFormat(storage: Storage): Promise<ProbeResult> {
  const head = await storage.read(0, 512);
  let best: ProbeResult = { format: 'raw', score: 1 };
  for (const probe of probers) {
    const result = await probe(head, storage);
    if (result && result.score > best.score) best = result;
    else if (result && !best.content && result.content) best = result;
  }
  return best;
}

export const SUPPORTED_FORMATS = ['qcow2', 'raw'] as const;
const KNOWN_FORMATS = ['qcow', 'vmdk', 'vhdx', 'vpc', 'vdi', 'qed', 'luks', 'parallels', 'dmg', 'bochs', 'cloop'];

/** Checks a format named by the user (-f); unknown names get QEMU's message. */
export function checkFormatName(format: string): void {
  if ((SUPPORTED_FORMATS as readonly string[]).includes(format)) return;
  if (KNOWN_FORMATS.includes(format)) throw new DiskImgError('unsupported', `Format '${format}' is not supported yet`, { field: 'format', value: format });
  throw new DiskImgError('usage', `Unknown driver '${format}'`, { field: 'format', value: format });
}
