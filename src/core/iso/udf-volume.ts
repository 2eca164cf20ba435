/**
 * UDF (ECMA-167 / OSTA UDF 1.02–2.60) volume structures: the anchor, the volume descriptor
 * sequence (primary, partition and logical volume descriptors with their partition maps), and the
 * mapping from a (partition reference, logical block) address to a byte offset in the image —
 * physical and sparable partitions directly, virtual ones through the VAT, metadata partitions
 * through the metadata file's extents.
 */
import { DiskImgError } from '../errors.ts';
import type { Storage } from '../storage/storage.ts';
import type { ByteRange } from './types.ts';

export const TAG = {
  PVD: 1,
  AVDP: 2,
  VDP: 3,
  IUVD: 4,
  PD: 5,
  LVD: 6,
  USD: 7,
  TD: 8,
  LVID: 9,
  FSD: 256,
  FID: 257,
  AED: 258,
  IE: 259,
  TE: 260,
  FE: 261,
  EFE: 266,
} as const;

/** Volume descriptors read in one sequence (ECMA-167 asks for at most a few dozen). */
const MAX_SEQUENCE = 512;
/** Extents of allocation descriptors followed for one file (AED chains must end). */
export const MAX_AD_EXTENTS = 4096;
/** VAT or metadata file bytes we accept: 64 MiB of 4-byte entries is 16 M blocks. */
const MAX_TABLE_BYTES = 64 << 20;

export const le16 = (b: Uint8Array, at: number) => b[at] | (b[at + 1] << 8);
export const le32 = (b: Uint8Array, at: number) => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16)) + b[at + 3] * 0x1000000;
export const le64 = (b: Uint8Array, at: number) => le32(b, at) + le32(b, at + 4) * 0x1_0000_0000;

/** The checked 16-byte descriptor tag at the start of `b`: its identifier, or null when there is no valid tag. */
export function tagId(b: Uint8Array, location?: number): number | null {
  if (b.length < 16) return null;
  let sum = 0;
  for (let i = 0; i < 16; i++) if (i !== 4) sum = (sum + b[i]) & 0xff;
  if (sum !== b[4] || (b[0] === 0 && b[1] === 0 && sum === 0)) return null;
  if (location !== undefined && le32(b, 12) !== location) return null;
  return le16(b, 0);
}

/** OSTA Compressed Unicode: compression id 8 (one byte a character) or 16 (UTF-16BE); 254/255 as 8/16. */
export function cs0(b: Uint8Array): string {
  if (b.length === 0) return '';
  const id = b[0];
  let out = '';
  if (id === 8 || id === 254) for (let i = 1; i < b.length; i++) out += String.fromCharCode(b[i]);
  else if (id === 16 || id === 255) for (let i = 1; i + 1 < b.length; i += 2) out += String.fromCharCode((b[i] << 8) | b[i + 1]);
  return out;
}

/** A dstring field: CS0 bytes whose used length is in the field's last byte. */
export function dstring(b: Uint8Array, at: number, size: number): string {
  const used = b[at + size - 1];
  if (used === 0 || used >= size) return '';
  return cs0(b.subarray(at, at + used)).replace(/\0+$/, '');
}

/** An ECMA-167 timestamp as ISO 8601 (with its zone when it has one), or null when unset. */
export function udfTimestamp(b: Uint8Array, at: number): string | null {
  const typeAndZone = le16(b, at);
  const year = ((b[at + 2] | (b[at + 3] << 8)) << 16) >> 16;
  const [month, day, hour, minute, second, centi] = [b[at + 4], b[at + 5], b[at + 6], b[at + 7], b[at + 8], b[at + 9]];
  if (year === 0 && month === 0 && day === 0) return null;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return null;
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  let zone = '';
  const type = typeAndZone >> 12;
  let offset = typeAndZone & 0xfff;
  if (offset & 0x800) offset -= 0x1000;
  if (type === 1 && offset !== -2047) {
    const m = Math.abs(offset);
    zone = offset === 0 ? 'Z' : `${offset < 0 ? '-' : '+'}${pad(Math.floor(m / 60))}:${pad(m % 60)}`;
  }
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}T${pad(hour)}:${pad(minute)}:${pad(second)}.${pad(centi)}${zone}`;
}

/** "x.yz" from a UDF revision word (0x0250 → "2.50"). */
export const revisionText = (rev: number) => `${(rev >> 8).toString(16)}.${(rev & 0xff).toString(16).padStart(2, '0')}`;

export interface LongAd {
  length: number;
  /** Extent type from the top two bits: 0 recorded, 1 allocated only, 2 unallocated, 3 continuation. */
  type: number;
  block: number;
  partition: number;
}

export const longAd = (b: Uint8Array, at: number): LongAd => {
  const raw = le32(b, at);
  return { length: raw & 0x3fffffff, type: raw >>> 30, block: le32(b, at + 4), partition: le16(b, at + 8) };
};

export interface UdfPartition {
  /** Index in the logical volume's partition maps: what addresses name. */
  ref: number;
  kind: 'physical' | 'sparable' | 'virtual' | 'metadata';
  number: number;
  /** First block and length of the underlying partition descriptor's space. */
  start: number;
  length: number;
}

export interface UdfVolume {
  blockSize: number;
  /** Byte offsets of the anchors found (256, N-256, N-1). */
  anchors: number[];
  /** The main (and reserve) volume descriptor sequence extents. */
  sequences: ByteRange[];
  revision: string;
  /** From the logical volume's domain identifier (0x0102 → "1.02"). */
  revisionWord: number;
  logicalVolumeId: string;
  volumeId: string;
  volumeSetId: string;
  applicationId: string;
  implementationId: string;
  recorded: string | null;
  partitions: UdfPartition[];
  /** Where the file set descriptor is. */
  fileSet: LongAd;
  integrity?: ByteRange;
  /**
   * From the VAT header, else the logical volume integrity descriptor: the oldest UDF revision
   * that can read the volume (udfinfo's "udfrev"), the newest that wrote it, and the counts.
   */
  minReadRevision?: string;
  maxWriteRevision?: string;
  files?: number;
  directories?: number;
  /** Byte offset of logical block `block` of partition reference `ref`. */
  offsetOf(ref: number, block: number): number;
  /** Byte ranges of the VAT / metadata files (for the disc picture). */
  tables: ByteRange[];
}

function regidText(b: Uint8Array, at: number): string {
  return String.fromCharCode(...b.subarray(at + 1, at + 24)).replace(/[\0\s]+$/, '');
}

/** Volume recognition: an NSR02 or NSR03 descriptor among the ones from sector 16 on. */
export async function hasUdfRecognition(storage: Storage): Promise<boolean> {
  for (let i = 0; i < 32; i++) {
    const at = 32768 + i * 2048;
    if (at + 2048 > storage.size) return false;
    const b = await storage.read(at, 8);
    const id = String.fromCharCode(...b.subarray(1, 6));
    if (id === 'NSR02' || id === 'NSR03') return true;
    if (id === 'TEA01' || !/^(BEA01|CD001|BOOT2|CDW02|NSR0[23])$/.test(id)) return false;
  }
  return false;
}

async function findAnchor(storage: Storage): Promise<{ blockSize: number; anchors: number[]; anchor: Uint8Array } | null> {
  for (const blockSize of [2048, 512, 4096, 1024]) {
    const blocks = Math.floor(storage.size / blockSize);
    const found: number[] = [];
    let anchor: Uint8Array | undefined;
    for (const block of [256, blocks - 256, blocks - 1]) {
      if (block < 256 || (block + 1) * blockSize > storage.size || found.includes(block * blockSize)) continue;
      const b = await storage.read(block * blockSize, 512);
      if (tagId(b, block) !== TAG.AVDP) continue;
      found.push(block * blockSize);
      anchor ??= b;
    }
    if (anchor) return { blockSize, anchors: found, anchor };
  }
  return null;
}

interface Sequence {
  pvd?: Uint8Array;
  lvd?: Uint8Array;
  pds: Map<number, Uint8Array>;
}

async function readSequence(storage: Storage, blockSize: number, start: number, length: number): Promise<Sequence> {
  const seq: Sequence = { pds: new Map() };
  const seqNum = (b: Uint8Array) => le32(b, 16);
  let block = start;
  let end = start + Math.floor(length / blockSize);
  for (let n = 0; n < MAX_SEQUENCE && block < end; n++, block++) {
    if ((block + 1) * blockSize > storage.size) break;
    const b = await storage.read(block * blockSize, blockSize);
    const id = tagId(b, block);
    if (id === null || id === TAG.TD) break;
    if (id === TAG.PVD && (!seq.pvd || seqNum(b) >= seqNum(seq.pvd))) seq.pvd = b;
    else if (id === TAG.LVD && (!seq.lvd || seqNum(b) >= seqNum(seq.lvd))) seq.lvd = b;
    else if (id === TAG.PD) {
      const number = le16(b, 22);
      const old = seq.pds.get(number);
      if (!old || seqNum(b) >= seqNum(old)) seq.pds.set(number, b);
    } else if (id === TAG.VDP) {
      // The sequence goes on elsewhere.
      block = le32(b, 24) - 1;
      end = block + 1 + Math.floor(le32(b, 20) / blockSize);
    }
  }
  return seq;
}

const invalid = (storage: Storage, message: string, context: Record<string, unknown> = {}): never => {
  throw new DiskImgError('invalid-format', message, { file: storage.name, ...context });
};

/** The UDF volume, or null when the image has no UDF anchor. Damage past the anchor is an error. */
export async function readUdfVolume(storage: Storage): Promise<UdfVolume | null> {
  const found = await findAnchor(storage);
  if (!found) return null;
  const { blockSize, anchors, anchor } = found;
  const sequences: ByteRange[] = [];
  let seq: Sequence | undefined;
  for (const at of [16, 24]) {
    const length = le32(anchor, at);
    const start = le32(anchor, at + 4);
    if (length === 0) continue;
    sequences.push({ offset: start * blockSize, length });
    if (seq?.pvd && seq.lvd && seq.pds.size > 0) continue;
    seq = await readSequence(storage, blockSize, start, Math.min(length, MAX_SEQUENCE * blockSize));
  }
  if (!seq?.lvd || seq.pds.size === 0) {
    return invalid(
      storage,
      `The UDF volume descriptor sequence named by the anchor at byte ${anchors[0]} has no ${seq?.lvd ? 'partition' : 'logical volume'} descriptor`,
      { field: 'volume descriptor sequence', offset: anchors[0] },
    );
  }
  const lvd = seq.lvd;
  const logicalBlockSize = le32(lvd, 212);
  if (logicalBlockSize !== blockSize) {
    throw new DiskImgError(
      'unsupported',
      `The UDF logical block size ${logicalBlockSize} differs from the ${blockSize}-byte sectors the anchor was found with`,
      { file: storage.name, field: 'logical block size', value: logicalBlockSize },
    );
  }
  const revisionWord = le16(lvd, 216 + 24);
  const partitions: UdfPartition[] = [];
  const mapCount = le32(lvd, 268);
  const mapTableLength = le32(lvd, 264);
  if (mapCount > 64 || 440 + mapTableLength > blockSize) {
    return invalid(
      storage,
      `The UDF logical volume descriptor has ${mapCount} partition maps in ${mapTableLength} bytes, more than its block holds`,
      { field: 'number of partition maps', value: mapCount },
    );
  }
  const pending: Array<{ ref: number; map: Uint8Array }> = [];
  for (let i = 0, at = 440; i < mapCount; i++) {
    const type = lvd[at];
    const length = lvd[at + 1];
    if (length < 6 || at + length > 440 + mapTableLength)
      return invalid(storage, `UDF partition map ${i} has an impossible length ${length}`, {
        field: 'partition map length',
        value: length,
      });
    const map = lvd.subarray(at, at + length);
    const number = type === 1 ? le16(map, 4) : le16(map, 38);
    const pd = seq.pds.get(number);
    if (!pd)
      return invalid(storage, `UDF partition map ${i} names partition ${number}, which has no partition descriptor`, {
        field: 'partition number',
        value: number,
      });
    const start = le32(pd, 188);
    const len = le32(pd, 192);
    if (start * blockSize >= storage.size)
      return invalid(storage, `UDF partition ${number} starts at block ${start}, past the end of the image (${storage.size} bytes)`, {
        field: 'partition starting location',
        offset: start * blockSize,
        value: start,
      });
    const ident = type === 2 ? regidText(map, 4) : '';
    const kind =
      type === 1
        ? 'physical'
        : ident === '*UDF Virtual Partition'
          ? 'virtual'
          : ident === '*UDF Sparable Partition'
            ? 'sparable'
            : ident === '*UDF Metadata Partition'
              ? 'metadata'
              : undefined;
    if (!kind)
      throw new DiskImgError(
        'unsupported',
        `UDF partition map ${i} is of a kind we do not read (type ${type}${ident ? `, ${ident}` : ''})`,
        { file: storage.name, field: 'partition map', value: ident || type },
      );
    partitions.push({ ref: i, kind, number, start, length: len });
    if (kind !== 'physical') pending.push({ ref: i, map });
    at += length;
  }
  const tables: ByteRange[] = [];
  const direct = (ref: number, block: number) => (partitions[ref].start + block) * blockSize;
  const mappers = new Map<number, (block: number) => number>();
  const volume: UdfVolume = {
    blockSize,
    anchors,
    sequences,
    revision: revisionText(revisionWord),
    revisionWord,
    logicalVolumeId: dstring(lvd, 84, 128),
    volumeId: seq.pvd ? dstring(seq.pvd, 24, 32) : '',
    volumeSetId: seq.pvd ? dstring(seq.pvd, 72, 128) : '',
    applicationId: seq.pvd ? regidText(seq.pvd, 344) : '',
    implementationId: regidText(lvd, 272),
    recorded: seq.pvd ? udfTimestamp(seq.pvd, 376) : null,
    partitions,
    fileSet: longAd(lvd, 248),
    integrity: le32(lvd, 432) > 0 ? { offset: le32(lvd, 436) * blockSize, length: le32(lvd, 432) } : undefined,
    tables,
    offsetOf(ref, block) {
      const partition = partitions[ref];
      if (!partition)
        return invalid(storage, `A UDF address names partition reference ${ref}; the volume has ${partitions.length}`, {
          field: 'partition reference number',
          value: ref,
        });
      const mapper = mappers.get(ref);
      return mapper ? mapper(block) : direct(ref, block);
    },
  };
  // Sparable partitions first: a virtual or metadata partition may lie on one.
  for (const { ref, map } of pending)
    if (partitions[ref].kind === 'sparable') mappers.set(ref, await sparingMapper(storage, volume, ref, map, tables));
  for (const { ref, map } of pending) {
    const partition = partitions[ref];
    if (partition.kind === 'sparable') continue;
    // The physical partition under a virtual or metadata one: the type 1 map of the same number.
    const under = partitions.find((p) => p.number === partition.number && (p.kind === 'physical' || p.kind === 'sparable'))?.ref ?? ref;
    if (partition.kind === 'virtual')
      mappers.set(ref, await vatMapper(storage, volume, under, tables, (header) => Object.assign(volume, revisions(header, 136))));
    else mappers.set(ref, await metadataMapper(storage, volume, under, le32(map, 40), le32(map, 44), tables));
  }
  if (volume.minReadRevision === undefined && volume.integrity && volume.integrity.offset + blockSize <= storage.size) {
    const lvid = await storage.read(volume.integrity.offset, blockSize);
    const n = le32(lvid, 72);
    const impUse = 80 + 8 * n;
    if (tagId(lvid) === TAG.LVID && n < 64 && le32(lvid, 76) >= 46 && impUse + 46 <= blockSize)
      Object.assign(volume, revisions(lvid, impUse + 32));
  }
  return volume;
}

/** Files, directories, min read, min write and max write revisions, from `at` (LVID implementation use or VAT header). */
function revisions(b: Uint8Array, at: number): Pick<UdfVolume, 'files' | 'directories' | 'minReadRevision' | 'maxWriteRevision'> {
  // Zero: not recorded (UDF 1.01 writers leave it so).
  const revision = (word: number) => (word === 0 ? undefined : revisionText(word));
  return {
    files: le32(b, at),
    directories: le32(b, at + 4),
    minReadRevision: revision(le16(b, at + 8)),
    maxWriteRevision: revision(le16(b, at + 12)),
  };
}

/**
 * A file entry's whole data, bounded: a directory's identifiers, a symlink's path, the VAT.
 * `what` names it in messages; `onExtent` is told where the recorded parts lie.
 */
export async function readFileData(
  storage: Storage,
  volume: UdfVolume,
  fe: Uint8Array,
  ref: number,
  limit: number,
  what: { name: string; offset?: number },
  onExtent?: (range: ByteRange) => void,
): Promise<Uint8Array> {
  const { extents, inline, size } = allocation(storage, volume, fe, ref);
  if (size > limit)
    throw new DiskImgError('limit', `${what.name} claims ${size} bytes, more than the ${limit} accepted`, {
      file: storage.name,
      field: 'information length',
      offset: what.offset,
      value: size,
    });
  if (inline) return inline.subarray(0, size);
  const out = new Uint8Array(size);
  let done = 0;
  for (const e of await extents) {
    const take = Math.min(e.length, size - done);
    if (take <= 0) break;
    if (e.offset >= 0) {
      checkInside(storage, e.offset, take, `extent of ${what.name}`);
      out.set(await storage.read(e.offset, take), done);
      onExtent?.({ offset: e.offset, length: take });
    }
    done += take;
  }
  return out;
}

export function checkInside(storage: Storage, offset: number, length: number, field: string): void {
  if (offset < 0 || offset + length > storage.size) {
    throw new DiskImgError(
      'invalid-format',
      `A UDF ${field} lies at bytes ${offset}–${offset + length}, past the end of the image (${storage.size} bytes): the image is truncated or damaged`,
      { file: storage.name, field, offset, value: length },
    );
  }
}

/**
 * The UDF 2.00+ virtual allocation table: the last recorded block holds its file entry (type 248);
 * each 4-byte entry gives a virtual block's place in the physical partition.
 */
async function vatMapper(
  storage: Storage,
  volume: UdfVolume,
  under: number,
  tables: ByteRange[],
  header: (vat: Uint8Array) => void,
): Promise<(block: number) => number> {
  const bs = volume.blockSize;
  const last = Math.floor(storage.size / bs) - 1;
  for (let block = last; block >= Math.max(0, last - 32); block--) {
    const fe = await storage.read(block * bs, bs);
    const id = tagId(fe);
    if ((id !== TAG.FE && id !== TAG.EFE) || fe[16 + 11] !== 248) continue;
    const data = await readFileData(storage, volume, fe, under, MAX_TABLE_BYTES, { name: 'A UDF table file' }, (range) =>
      tables.push(range),
    );
    tables.push({ offset: block * bs, length: bs });
    const headerLength = le16(data, 0);
    if (headerLength < 152 || headerLength > data.length)
      return invalid(storage, `The UDF VAT at block ${block} has a header of ${headerLength} bytes, outside its ${data.length}`, {
        field: 'VAT header length',
        offset: block * bs,
        value: headerLength,
      });
    header(data);
    const count = Math.floor((data.length - headerLength) / 4);
    return (virtual) => {
      if (virtual >= count)
        return invalid(storage, `UDF virtual block ${virtual} is outside the VAT's ${count} entries`, {
          field: 'virtual block',
          value: virtual,
        });
      return (volume.partitions[under].start + le32(data, headerLength + virtual * 4)) * bs;
    };
  }
  return invalid(storage, 'The UDF volume has a virtual partition but no virtual allocation table (VAT) in its last blocks', {
    field: 'VAT',
    offset: last * bs,
  });
}

/** Remapped packets a sparing table may list: a table fills at most a few blocks. */
const MAX_SPARING_ENTRIES = 4096;

/**
 * A sparable partition (CD-RW, DVD-RW): blocks as in a physical partition, except packets the
 * sparing table moved elsewhere (original: a block number in the partition; mapped: a sector).
 * An image of a disc without defects has no remapped packet.
 */
async function sparingMapper(
  storage: Storage,
  volume: UdfVolume,
  ref: number,
  map: Uint8Array,
  tables: ByteRange[],
): Promise<(block: number) => number> {
  const bs = volume.blockSize;
  const start = volume.partitions[ref].start;
  const packet = le16(map, 40);
  const count = Math.min(map[42], 4);
  const remaps = new Map<number, number>();
  for (let i = 0; i < count && 48 + 4 * i + 4 <= map.length; i++) {
    const at = le32(map, 48 + 4 * i) * bs;
    if (at + bs > storage.size) continue;
    const table = await storage.read(at, bs);
    if (regidText(table, 16) !== '*UDF Sparing Table') continue;
    tables.push({ offset: at, length: bs });
    const entries = Math.min(le16(table, 48), MAX_SPARING_ENTRIES, Math.floor((bs - 56) / 8));
    for (let e = 0; e < entries; e++) {
      const original = le32(table, 56 + 8 * e);
      if (original < 0xfffffff0) remaps.set(original, le32(table, 60 + 8 * e));
    }
    break; // the first readable table is as good as any copy
  }
  if (packet === 0 || (packet & (packet - 1)) !== 0) {
    throw new DiskImgError('invalid-format', `The UDF sparable partition's packet length ${packet} is not a power of two`, {
      file: storage.name,
      field: 'packet length',
      value: packet,
    });
  }
  return (block) => {
    const mapped = remaps.size > 0 ? remaps.get(block - (block % packet)) : undefined;
    return (mapped !== undefined ? mapped + (block % packet) : start + block) * bs;
  };
}

/** UDF 2.50+ metadata partition: its blocks are the metadata file's extents, in order (the mirror if the main one is unreadable). */
async function metadataMapper(
  storage: Storage,
  volume: UdfVolume,
  under: number,
  main: number,
  mirror: number,
  tables: ByteRange[],
): Promise<(block: number) => number> {
  const bs = volume.blockSize;
  let extents: ByteRange[] | undefined;
  for (const location of [main, mirror]) {
    if (location === 0xffffffff) continue;
    const at = volume.offsetOf(under, location);
    if (at + bs > storage.size) continue;
    const fe = await storage.read(at, bs);
    const id = tagId(fe);
    if (id !== TAG.FE && id !== TAG.EFE) continue;
    extents = await allocation(storage, volume, fe, under).extents;
    tables.push({ offset: at, length: bs }, ...extents.filter((e) => e.offset >= 0));
    break;
  }
  if (!extents)
    return invalid(storage, 'The UDF metadata partition has no readable metadata file (main or mirror)', {
      field: 'metadata file location',
      value: main,
    });
  const found = extents;
  return (block) => {
    let skip = block * bs;
    for (const e of found) {
      if (skip < e.length) return e.offset + skip;
      skip -= e.length;
    }
    return invalid(storage, `UDF metadata block ${block} lies past the metadata file's extents`, { field: 'metadata block', value: block });
  };
}

export interface Allocation {
  size: number;
  inline?: Uint8Array;
  /** Byte ranges in order; a negative offset stands for a run of zeros (allocated but unrecorded, or sparse). */
  extents: Promise<ByteRange[]>;
}

/** Where a file entry's (FE or EFE) data lies: embedded in the entry, or its allocation descriptors followed (AED chains too). */
export function allocation(storage: Storage, volume: UdfVolume, fe: Uint8Array, ref: number): Allocation {
  const extended = le16(fe, 0) === TAG.EFE;
  const size = le64(fe, 56);
  const eaLength = le32(fe, extended ? 208 : 168);
  const adLength = le32(fe, extended ? 212 : 172);
  const adStart = (extended ? 216 : 176) + eaLength;
  if (adStart + adLength > fe.length || !Number.isSafeInteger(size)) {
    return invalid(
      storage,
      `A UDF file entry's allocation descriptors (${adLength} bytes after ${eaLength} of attributes) do not fit its block`,
      { field: 'length of allocation descriptors', value: adLength },
    );
  }
  const adType = le16(fe, 16 + 18) & 7;
  if (adType === 3) return { size, inline: fe.subarray(adStart, adStart + adLength), extents: Promise.resolve([]) };
  if (adType !== 0 && adType !== 1)
    throw new DiskImgError('unsupported', `UDF allocation descriptor type ${adType} (extended) is not supported`, {
      file: storage.name,
      field: 'ICB flags',
      value: adType,
    });
  return { size, extents: readAds(storage, volume, fe.subarray(adStart, adStart + adLength), adType === 1, ref, size) };
}

async function readAds(
  storage: Storage,
  volume: UdfVolume,
  first: Uint8Array,
  long: boolean,
  ref: number,
  size: number,
): Promise<ByteRange[]> {
  const out: ByteRange[] = [];
  const step = long ? 16 : 8;
  let ads = first;
  let total = 0;
  const seen = new Set<number>();
  for (let chains = 0; ; chains++) {
    let next: { offset: number; length: number } | undefined;
    for (let at = 0; at + step <= ads.length; at += step) {
      const raw = le32(ads, at);
      const length = raw & 0x3fffffff;
      const type = raw >>> 30;
      if (length === 0) break;
      const block = le32(ads, at + 4);
      const part = long ? le16(ads, at + 8) : ref;
      if (type === 3) {
        next = { offset: volume.offsetOf(part, block), length };
        break;
      }
      if (out.length >= MAX_AD_EXTENTS)
        throw new DiskImgError('limit', `A UDF file has more than ${MAX_AD_EXTENTS} extents`, {
          file: storage.name,
          field: 'allocation descriptors',
          value: out.length,
        });
      // Recorded data is read; allocated-but-unrecorded and sparse extents read as zeros.
      const offset = type === 0 ? volume.offsetOf(part, block) : -1;
      out.push({ offset, length });
      total += length;
      if (total >= size) return out;
    }
    if (!next) return out;
    if (chains >= MAX_AD_EXTENTS || seen.has(next.offset))
      throw new DiskImgError('corrupt', `The UDF allocation extent chain loops at byte ${next.offset}`, {
        file: storage.name,
        field: 'allocation extent descriptor',
        offset: next.offset,
      });
    seen.add(next.offset);
    checkInside(storage, next.offset, volume.blockSize, 'allocation extent descriptor');
    const aed = await storage.read(next.offset, volume.blockSize);
    if (tagId(aed) !== TAG.AED)
      return invalid(storage, `The UDF allocation extent at byte ${next.offset} has no valid descriptor tag`, {
        field: 'allocation extent descriptor',
        offset: next.offset,
      });
    ads = aed.subarray(24, 24 + Math.min(le32(aed, 20), volume.blockSize - 24));
  }
}
