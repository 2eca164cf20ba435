/**
 * The little of an OVF descriptor (DMTF OVF 1.0/2.0) an OVA's disks need: References/File,
 * DiskSection/Disk and the VirtualSystem's id and Name. A tolerant tag scanner, not an XML parser
 * (no DOM in workers or Node): namespace prefixes are ignored, unknown elements skipped.
 */

export interface OvfFile {
  id: string;
  href: string;
  size?: number;
  compression?: string;
  chunkSize?: number;
}

export interface OvfDisk {
  diskId: string;
  fileRef?: string;
  /** In bytes (capacity × capacityAllocationUnits). */
  capacity?: number;
  format?: string;
  populatedSize?: number;
}

export interface Ovf {
  files: OvfFile[];
  disks: OvfDisk[];
  systemId?: string;
  systemName?: string;
}

const TAG = /<\s*(\/?)\s*(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>/g;
const ATTRIBUTE = /(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_, entity: string) => {
    if (entity[0] === '#') {
      const code = entity[1] === 'x' ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10);
      return code <= 0x10ffff ? String.fromCodePoint(code) : '';
    }
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[entity] ?? '';
  });
}

function attributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(ATTRIBUTE)) if (!out.has(m[1])) out.set(m[1], decodeEntities(m[2] ?? m[3] ?? ''));
  return out;
}

const integer = (value: string | undefined) => (value !== undefined && /^\s*\d+\s*$/.test(value) ? Number(value) : undefined);

/** "byte * 2^30" (the OVF's programmatic units) as a multiplier; plain "byte" is 1. */
function units(value: string | undefined): number {
  if (!value) return 1;
  const power = /2\s*\^\s*(\d+)/.exec(value);
  const factor = /\*\s*(\d+)(?!\s*\^)/.exec(value.replace(/2\s*\^\s*\d+/, ''));
  return (power ? 2 ** Number(power[1]) : 1) * (factor ? Number(factor[1]) : 1);
}

export function parseOvf(xml: string): Ovf {
  const ovf: Ovf = { files: [], disks: [] };
  let inSystem = false;
  let nameStart = -1;
  for (const m of xml.matchAll(TAG)) {
    const [, closing, local, rest] = m;
    if (closing) {
      if (local === 'Name' && nameStart >= 0 && ovf.systemName === undefined)
        ovf.systemName = decodeEntities(xml.slice(nameStart, m.index).trim());
      nameStart = -1;
      continue;
    }
    const attrs = attributes(rest);
    if (local === 'File') {
      const id = attrs.get('id');
      const href = attrs.get('href');
      if (id !== undefined && href !== undefined)
        ovf.files.push({
          id,
          href,
          size: integer(attrs.get('size')),
          compression: attrs.get('compression'),
          chunkSize: integer(attrs.get('chunkSize')),
        });
    } else if (local === 'Disk') {
      const diskId = attrs.get('diskId');
      if (diskId === undefined) continue;
      const capacity = integer(attrs.get('capacity'));
      ovf.disks.push({
        diskId,
        fileRef: attrs.get('fileRef'),
        capacity: capacity === undefined ? undefined : capacity * units(attrs.get('capacityAllocationUnits')),
        format: attrs.get('format'),
        populatedSize: integer(attrs.get('populatedSize')),
      });
    } else if (local === 'VirtualSystem' && !inSystem) {
      inSystem = true;
      ovf.systemId = attrs.get('id');
    } else if (local === 'Name' && inSystem && ovf.systemName === undefined && !rest.trim().endsWith('/')) {
      nameStart = m.index + m[0].length;
    }
  }
  return ovf;
}
