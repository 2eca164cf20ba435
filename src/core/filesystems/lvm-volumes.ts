/**
 * The logical volumes on an LVM2 physical volume, so a file system inside one can be opened:
 * the label (lvm.ts finds it), the PV header's list of metadata areas, the newest metadata text
 * (highest seqno among the areas whose checksums hold), the volume group it describes, and each
 * linear LV as a window made of its segments' extents. Only what one PV holds can be read: an LV
 * that is striped, thin, raid, a snapshot or spans another PV is listed with why it cannot be.
 *
 *   const vg = await readVolumeGroup(pv);            // pv: the partition's ByteSource
 *   const source = openLogicalVolume(pv, vg, 'root'); // a ByteSource the file-system readers open
 */
import { DiskImgError } from '../errors.ts';
import { ascii, le32, le64 } from '../partitions/bytes.ts';
import { ByteSource, MAX_PROBE_READ, type GuestReader } from '../partitions/source.ts';
import { findLvmLabel, lvmCrc } from './lvm.ts';
import { lvmList, lvmNumber, lvmSection, lvmString, lvmSubsections, parseLvmText, type LvmSection } from './lvm-text.ts';

const SECTOR = 512;
const MDA_MAGIC = ' LVM2 x[5A%r0N*>';
const MDA_HEADER_SIZE = 512;
/** raw_locn flag: this area's copy is deliberately not kept up to date (pvchange --metadataignore). */
const RAW_LOCN_IGNORED = 1;
/** Metadata text larger than this is refused: LVM's own default area is 1 MiB. */
const MAX_METADATA_TEXT = 16 * 1024 * 1024;
/** Areas listed in a PV header: LVM writes at most two metadata areas and one data area. */
const MAX_AREAS = 8;
const MAX_SEGMENTS = 100_000;

/** One piece of a linear LV: `length` bytes at `start` in the LV are at `pvOffset` on the PV. */
export interface LvSegment {
  start: number;
  length: number;
  pvOffset: number;
}

export interface LogicalVolume {
  /** "vg/lv", as /dev/vg/lv names it. */
  name: string;
  size: number;
  /** "linear", or LVM's segment type for what cannot be read (striped, thin, raid1, snapshot, …). */
  layout: string;
  /** Set when the LV can be read from this PV alone. */
  segments?: LvSegment[];
  /** Why it cannot be, when it cannot. */
  refusal?: string;
}

export interface VolumeGroup {
  name: string;
  seqno: number;
  /** The visible LVs, as `lvs` lists them. */
  volumes: LogicalVolume[];
}

const corrupt = (message: string, offset?: number): never => {
  throw new DiskImgError('corrupt', message, { field: 'lvm', ...(offset !== undefined ? { offset } : {}) });
};

async function readPv(pv: ByteSource, offset: number, length: number, what: string): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  for (let done = 0; done < length;) {
    const n = Math.min(MAX_PROBE_READ, length - done);
    const bytes = await pv.read(offset + done, n);
    if (!bytes)
      return corrupt(`${what} lies at bytes ${offset}–${offset + length}, past the end of the physical volume (${pv.size} bytes)`, offset);
    out.set(bytes, done);
    done += n;
  }
  return out;
}

/** The metadata areas (offset, size) the PV header lists after its data areas. */
function metadataAreas(label: Uint8Array, headerAt: number, labelOffset: number): Array<{ offset: number; size: number }> {
  let at = headerAt + 40;
  const areaList = (what: string) => {
    const areas: Array<{ offset: number; size: number }> = [];
    for (;;) {
      if (at + 16 > SECTOR) return corrupt(`The LVM PV header's list of ${what} areas runs past its sector`, labelOffset);
      const offset = le64(label, at);
      const size = le64(label, at + 8);
      at += 16;
      if (offset === 0) return areas;
      if (areas.length >= MAX_AREAS) return corrupt(`The LVM PV header lists more than ${MAX_AREAS} ${what} areas`, labelOffset);
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(size))
        return corrupt(`An LVM ${what} area's offset or size (${offset}, ${size}) is out of range`, labelOffset);
      areas.push({ offset, size });
    }
  };
  areaList('data');
  return areaList('metadata');
}

/** pvcreate without vgcreate leaves the areas empty: a PV in no volume group, not damage. */
const EMPTY_AREA = ' holds no metadata';

interface MetadataCopy {
  text: string;
  at: number;
}

/** The committed metadata text of one area, or a reason it cannot be used. */
async function readArea(pv: ByteSource, area: { offset: number; size: number }): Promise<MetadataCopy | string> {
  const header = await pv.read(area.offset, MDA_HEADER_SIZE);
  if (!header) return `its header at byte ${area.offset} lies past the end of the physical volume`;
  if (ascii(header, 4, 16) !== MDA_MAGIC) return `the header at byte ${area.offset} lacks the metadata area magic`;
  if (le32(header, 0) !== lvmCrc(header.subarray(4))) return `the header at byte ${area.offset} fails its checksum`;
  if (le32(header, 20) !== 1) return `the header at byte ${area.offset} has version ${le32(header, 20)}, not 1`;
  const size = le64(header, 32);
  if (le64(header, 24) !== area.offset || size !== area.size || size <= MDA_HEADER_SIZE)
    return `the header at byte ${area.offset} gives its place as ${le64(header, 24)} (${size} bytes), not where the PV header puts it`;
  const textOffset = le64(header, 40);
  const textSize = le64(header, 48);
  const checksum = le32(header, 56);
  const flags = le32(header, 60);
  if (textOffset === 0) return `the area at byte ${area.offset}${EMPTY_AREA}`;
  if (flags & RAW_LOCN_IGNORED) return `the area at byte ${area.offset} is marked ignored`;
  if (textOffset < MDA_HEADER_SIZE || textOffset >= size || textSize === 0 || textSize > size - MDA_HEADER_SIZE)
    return `its text (${textSize} bytes at ${textOffset}) does not fit the ${size}-byte area at byte ${area.offset}`;
  if (textSize > MAX_METADATA_TEXT) return `its text is ${textSize} bytes, more than the ${MAX_METADATA_TEXT} read`;
  // The area is a ring after its header: text that reaches the end continues just after the header.
  const first = Math.min(textSize, size - textOffset);
  const bytes = new Uint8Array(textSize);
  bytes.set(await readPv(pv, area.offset + textOffset, first, 'LVM metadata text'));
  if (first < textSize) bytes.set(await readPv(pv, area.offset + MDA_HEADER_SIZE, textSize - first, 'LVM metadata text'), first);
  if (lvmCrc(bytes) !== checksum) return `its text at byte ${area.offset + textOffset} fails its checksum`;
  const end = bytes.indexOf(0);
  return { text: new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end)), at: area.offset + textOffset };
}

const describeRefusal = (lv: string, type: string, why: string) => `${lv} is a ${type} logical volume: ${why}`;

/** Reads the label, the metadata areas and the newest VG description on `pv`. */
export async function readVolumeGroup(pv: ByteSource): Promise<VolumeGroup> {
  const found = await findLvmLabel(pv);
  if (!found) throw new DiskImgError('invalid-format', 'No LVM2 label (LABELONE) was found in the first four sectors', { field: 'lvm' });
  const { sector, label, headerAt, uuid } = found;
  const areas = metadataAreas(label, headerAt, sector * SECTOR);
  if (areas.length === 0)
    throw new DiskImgError(
      'unsupported',
      'This LVM2 physical volume keeps no metadata (pvcreate --metadatacopies 0): its volume group is described on another PV',
      {
        field: 'lvm',
      },
    );
  const problems: string[] = [];
  let newest: { vg: LvmSection; name: string; seqno: number } | null = null;
  for (const area of areas) {
    const copy = await readArea(pv, area);
    if (typeof copy === 'string') {
      problems.push(copy);
      continue;
    }
    const top = parseLvmText(copy.text, `The LVM metadata at byte ${copy.at}`);
    const [entry] = lvmSubsections(top);
    if (!entry) return corrupt(`The LVM metadata at byte ${copy.at} describes no volume group`, copy.at);
    const seqno = lvmNumber(entry[1], 'seqno');
    if (seqno === undefined) return corrupt(`The LVM metadata at byte ${copy.at} has no seqno`, copy.at);
    if (!newest || seqno > newest.seqno) newest = { vg: entry[1], name: entry[0], seqno };
  }
  if (!newest && problems.every((p) => p.endsWith(EMPTY_AREA)))
    throw new DiskImgError('not-found', 'This LVM2 physical volume belongs to no volume group: its metadata areas are empty', {
      field: 'lvm',
    });
  if (!newest) return corrupt(`No LVM metadata area could be read: ${problems.join('; ')}`, areas[0].offset);
  return { name: newest.name, seqno: newest.seqno, volumes: describeVolumes(newest.name, newest.vg, uuid, pv.size) };
}

function describeVolumes(vgName: string, vg: LvmSection, pvUuid: string, pvSize: number): LogicalVolume[] {
  const extentSectors = lvmNumber(vg, 'extent_size');
  if (extentSectors === undefined || !Number.isSafeInteger(extentSectors) || extentSectors <= 0)
    return corrupt(`Volume group ${vgName} has no valid extent_size (${extentSectors})`);
  const extent = extentSectors * SECTOR;
  const pvs = new Map<string, { ours: boolean; peStart: number; peCount: number }>();
  for (const [key, section] of lvmSubsections(lvmSection(vg, 'physical_volumes') ?? new Map())) {
    pvs.set(key, {
      ours: lvmString(section, 'id') === pvUuid,
      peStart: (lvmNumber(section, 'pe_start') ?? -1) * SECTOR,
      peCount: lvmNumber(section, 'pe_count') ?? -1,
    });
  }
  const lvs = lvmSubsections(lvmSection(vg, 'logical_volumes') ?? new Map());
  // A snapshot is written as two LVs: the visible one holds the copy-on-write store, read raw it is not the snapshot.
  const snapshotStores = new Set<string>();
  for (const [, lv] of lvs)
    for (const [, seg] of lvmSubsections(lv))
      if (lvmString(seg, 'type') === 'snapshot') snapshotStores.add(lvmString(seg, 'cow_store') ?? '');

  const volumes: LogicalVolume[] = [];
  for (const [lvName, lv] of lvs) {
    if (!(lvmList(lv, 'status') ?? []).includes('VISIBLE')) continue;
    const name = `${vgName}/${lvName}`;
    const segments = lvmSubsections(lv).filter(([key]) => /^segment\d+$/.test(key));
    if (segments.length > MAX_SEGMENTS) return corrupt(`${name} has more than ${MAX_SEGMENTS} segments`);
    let size = 0;
    const pieces: Array<LvSegment & { end: number }> = [];
    let refusal: { layout: string; why: string } | null = snapshotStores.has(lvName)
      ? { layout: 'snapshot', why: 'its blocks are a copy-on-write store, not the snapshot’s contents' }
      : null;
    for (const [segName, seg] of segments) {
      const startExtent = lvmNumber(seg, 'start_extent');
      const count = lvmNumber(seg, 'extent_count');
      if (
        startExtent === undefined ||
        count === undefined ||
        !Number.isSafeInteger(startExtent * extent) ||
        !Number.isSafeInteger(count * extent) ||
        startExtent < 0 ||
        count <= 0
      )
        return corrupt(`${name} ${segName} has no valid start_extent and extent_count (${startExtent}, ${count})`);
      size += count * extent;
      const type = lvmString(seg, 'type') ?? '(none)';
      const stripes = lvmList(seg, 'stripes');
      if (refusal) continue;
      if (type !== 'striped') {
        refusal = { layout: type, why: `only linear volumes can be read` };
        continue;
      }
      if (lvmNumber(seg, 'stripe_count') !== 1 || !stripes || stripes.length !== 2) {
        refusal = {
          layout: 'striped',
          why: `its data alternates between ${lvmNumber(seg, 'stripe_count')} stripes; only linear volumes can be read`,
        };
        continue;
      }
      const [pvKey, pe] = stripes;
      const pv = typeof pvKey === 'string' ? pvs.get(pvKey) : undefined;
      if (!pv) return corrupt(`${name} ${segName} names physical volume ${String(pvKey)}, which the volume group does not list`);
      if (!pv.ours) {
        refusal = {
          layout: 'linear',
          why: `part of it (${segName}) lies on another physical volume (${String(pvKey)}); only what one PV holds can be read`,
        };
        continue;
      }
      if (typeof pe !== 'number' || !Number.isSafeInteger(pe) || pe < 0 || pe + count > pv.peCount)
        return corrupt(`${name} ${segName} starts at extent ${String(pe)} (${count} extents), outside the PV's ${pv.peCount} extents`);
      const pvOffset = pv.peStart + pe * extent;
      if (pv.peStart < 0 || pvOffset + count * extent > pvSize)
        return corrupt(
          `${name} ${segName} lies at bytes ${pvOffset}–${pvOffset + count * extent}, past the end of the physical volume (${pvSize} bytes)`,
        );
      pieces.push({ start: startExtent * extent, length: count * extent, end: (startExtent + count) * extent, pvOffset });
    }
    if (refusal) {
      volumes.push({ name, size, layout: refusal.layout, refusal: describeRefusal(name, refusal.layout, refusal.why) });
      continue;
    }
    pieces.sort((a, b) => a.start - b.start);
    let covered = 0;
    for (const piece of pieces) {
      if (piece.start !== covered)
        return corrupt(
          `${name}'s segments ${piece.start < covered ? 'overlap' : 'leave a gap'} at byte ${Math.min(piece.start, covered)} of the volume`,
        );
      covered = piece.end;
    }
    volumes.push({
      name,
      size: covered,
      layout: 'linear',
      segments: pieces.map(({ start, length, pvOffset }) => ({ start, length, pvOffset })),
    });
  }
  return volumes;
}

/** A linear LV read through its segments: the guest-disk shape the file-system readers take. */
class LinearVolume implements GuestReader {
  readonly virtualSize: number;
  constructor(
    private readonly pv: ByteSource,
    private readonly segments: readonly LvSegment[],
    size: number,
  ) {
    this.virtualSize = size;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let done = 0;
    for (const seg of this.segments) {
      if (done === length) break;
      const at = offset + done;
      if (at >= seg.start + seg.length || at < seg.start) continue;
      const n = Math.min(length - done, seg.start + seg.length - at);
      out.set(await readPv(this.pv, seg.pvOffset + (at - seg.start), n, 'A logical volume extent'), done);
      done += n;
    }
    if (done !== length)
      return corrupt(`Bytes ${offset}–${offset + length} lie outside the logical volume (${this.virtualSize} bytes)`, offset);
    return out;
  }
}

/** "vg/lv", "/dev/vg/lv" or "/dev/mapper/vg-lv" (LVM doubles a dash inside a name there) to "vg/lv". */
export function volumeName(spec: string): string {
  const mapper = /^\/dev\/mapper\/((?:[^-]|--)+)-((?:[^-]|--)+)$/.exec(spec);
  if (mapper) return `${mapper[1].replaceAll('--', '-')}/${mapper[2].replaceAll('--', '-')}`;
  return spec.replace(/^\/dev\//, '');
}

/** The LV as a ByteSource, or an error saying why it cannot be read and which LVs there are. */
export function openLogicalVolume(pv: ByteSource, vg: VolumeGroup, spec: string): ByteSource {
  const wanted = volumeName(spec);
  const lv =
    vg.volumes.find((v) => v.name === wanted) ??
    (wanted.includes('/') ? undefined : vg.volumes.find((v) => v.name === `${vg.name}/${wanted}`));
  if (!lv)
    throw new DiskImgError(
      'not-found',
      `There is no logical volume ${wanted} in volume group ${vg.name}; volumes: ${vg.volumes.map((v) => v.name).join(', ') || 'none'}`,
      { field: 'volume', value: spec },
    );
  if (!lv.segments) throw new DiskImgError('unsupported', lv.refusal ?? `${lv.name} cannot be read`, { field: 'volume', value: lv.name });
  return ByteSource.whole(new LinearVolume(pv, lv.segments, lv.size));
}
