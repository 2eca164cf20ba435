/**
 * The VHDX log (MS-VHDX 2.3): finding the active sequence of entries and replaying it, as
 * block/vhdx-log.c does — but into an in-memory overlay, so the input is never written. qemu-img
 * refuses to open such a file read-only; we read it as it will be once the log is replayed.
 */
import { DiskImgError } from '../../errors.ts';
import type { Storage } from '../../storage/storage.ts';
import { crc32cUpdate } from './crc32c.ts';
import { le32, le64n } from './fields.ts';
import { MiB, hasLog, type VhdxHeader } from './header.ts';
import { OverlayStorage } from './overlay.ts';

const SECTOR = 4096;
const ENTRY_SIGNATURE = 0x65676f6c; // "loge"
const ZERO_SIGNATURE = 0x6f72657a; // "zero"
const DESC_SIGNATURE = 0x63736564; // "desc"
/** Descriptors replayed at most (a 1 MiB log holds at most 32768). */
const MAX_DESCRIPTORS = 1 << 20;
/** Where a replayed write may end at most (2^52: far beyond any real file). */
const MAX_FILE_END = 2 ** 52;

interface EntryHeader {
  checksum: number;
  entryLength: number;
  sequence: bigint;
  descriptorCount: number;
  logGuid: Uint8Array;
  flushedFileOffset: bigint;
  lastFileOffset: bigint;
}

interface Descriptor {
  zero: boolean;
  /** zero: the length to zero; desc: unused. */
  zeroLength: bigint;
  fileOffset: bigint;
  sequence: bigint;
  leading: Uint8Array;
  trailing: Uint8Array;
}

/** A position in the circular log: `read` advances sector by sector and wraps at `length`. */
interface Cursor {
  read: number;
  write: number;
}

const corrupt = (storage: Storage, message: string, offset: number, field = 'log'): never => {
  throw new DiskImgError('corrupt', `VHDX log: ${message}`, { file: storage.name, field, offset });
};

class Log {
  /** Sector reads so far: a guard against any loop the format could make. */
  private reads = 0;
  private readonly maxReads: number;
  private window?: { start: number; bytes: Uint8Array };

  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly length: number,
    readonly guid: Uint8Array,
    /** Read through 1 MiB windows (the search); off while replaying, which writes beneath. */
    private readonly windowed = true,
  ) {
    this.maxReads = (length / SECTOR) * 4 + 64;
  }

  /** One log sector, `index` bytes into the log (read through 1 MiB windows). */
  async sector(index: number): Promise<Uint8Array> {
    if (++this.reads > this.maxReads) corrupt(this.storage, 'the log does not end (its entries loop)', this.offset + index);
    const at = this.offset + index;
    if (!this.windowed) return this.storage.read(at, SECTOR);
    const start = at - (at % MiB);
    if (this.window?.start !== start) this.window = { start, bytes: await this.storage.read(start, MiB) };
    return this.window.bytes.subarray(at - start, at - start + SECTOR);
  }

  /** Bytes past the end of the file read as zeros: no entry can start there. */
  pastEnd(index: number): boolean {
    return this.offset + index >= this.storage.size;
  }

  next(index: number): number {
    index += SECTOR;
    return index >= this.length ? 0 : index;
  }

  header(bytes: Uint8Array): EntryHeader {
    return {
      checksum: le32(bytes, 4),
      entryLength: le32(bytes, 8),
      sequence: le64n(bytes, 16),
      descriptorCount: le32(bytes, 24),
      logGuid: bytes.subarray(32, 48),
      flushedFileOffset: le64n(bytes, 48),
      lastFileOffset: le64n(bytes, 56),
    };
  }

  headerValid(bytes: Uint8Array, h: EntryHeader): boolean {
    if (le32(bytes, 0) !== ENTRY_SIGNATURE) return false;
    if (this.length < h.entryLength || h.entryLength % SECTOR !== 0) return false;
    if (h.sequence === 0n) return false;
    for (let i = 0; i < 16; i++) if (h.logGuid[i] !== this.guid[i]) return false;
    return h.descriptorCount * 32 <= h.entryLength;
  }

  /** The entry header at the cursor, without moving it (vhdx_log_peek_hdr). */
  async peek(cursor: Cursor): Promise<{ bytes: Uint8Array; header: EntryHeader }> {
    if (cursor.read === cursor.write) corrupt(this.storage, 'an entry runs past the end of the active sequence', this.offset + cursor.read);
    const bytes = (await this.sector(cursor.read)).slice(0, 64);
    return { bytes, header: this.header(bytes) };
  }

  /**
   * Reads the entry's descriptor sectors (moving the cursor) and checks every descriptor
   * (vhdx_log_read_desc); `crc` is fed the sectors as read, the checksum field taken as zero.
   */
  async descriptors(cursor: Cursor): Promise<{ header: EntryHeader; descriptors: Descriptor[]; crc: number }> {
    const start = cursor.read;
    const { bytes, header } = await this.peek(cursor);
    if (!this.headerValid(bytes, header)) corrupt(this.storage, 'an entry header of the active sequence is invalid', this.offset + start);
    const sectors = Math.ceil((header.descriptorCount + 2) / 128);
    const descriptors: Descriptor[] = [];
    let crc = 0xffffffff;
    let pending = new Uint8Array(0);
    for (let s = 0; s < sectors; s++) {
      if (cursor.read === cursor.write)
        corrupt(
          this.storage,
          `the entry at log offset ${start} has fewer descriptor sectors than its ${header.descriptorCount} descriptors need`,
          this.offset + start,
        );
      const sector = (await this.sector(cursor.read)).slice();
      if (s === 0) sector.fill(0, 4, 8);
      crc = crc32cUpdate(crc, sector);
      cursor.read = this.next(cursor.read);
      // Descriptors are 32 bytes each, after the 64-byte header, across sector boundaries.
      const joined = new Uint8Array(pending.length + sector.length);
      joined.set(pending);
      joined.set(sector, pending.length);
      let at = s === 0 ? 64 : 0;
      while (at + 32 <= joined.length && descriptors.length < header.descriptorCount) {
        const d = joined.subarray(at, at + 32);
        const descriptor: Descriptor = {
          zero: le32(d, 0) === ZERO_SIGNATURE,
          zeroLength: le64n(d, 8),
          fileOffset: le64n(d, 16),
          sequence: le64n(d, 24),
          leading: d.slice(8, 16),
          trailing: d.slice(4, 8),
        };
        const signature = le32(d, 0);
        const ok =
          descriptor.sequence === header.sequence &&
          descriptor.fileOffset % BigInt(SECTOR) === 0n &&
          ((signature === ZERO_SIGNATURE && descriptor.zeroLength % BigInt(SECTOR) === 0n) || signature === DESC_SIGNATURE);
        if (!ok)
          corrupt(
            this.storage,
            `descriptor ${descriptors.length} of the entry at log offset ${start} is invalid`,
            this.offset + start,
            'log descriptor',
          );
        descriptors.push(descriptor);
        at += 32;
      }
      pending = joined.slice(at);
    }
    return { header, descriptors, crc };
  }

  /** vhdx_validate_log_entry: whether a whole, well-summed entry (following `seq`, if not 0) starts at the cursor. */
  async validEntry(cursor: Cursor, seq: bigint): Promise<EntryHeader | null> {
    const { bytes, header } = await this.peek(cursor);
    if (!this.headerValid(bytes, header) || (seq > 0n && header.sequence !== seq + 1n)) {
      cursor.read = this.next(cursor.read);
      return null;
    }
    const total = header.entryLength / SECTOR;
    const descSectors = Math.ceil((header.descriptorCount + 2) / 128);
    let { crc } = await this.descriptors(cursor);
    for (let i = descSectors; i < total; i++) {
      if (cursor.read === cursor.write) return null;
      crc = crc32cUpdate(crc, await this.sector(cursor.read));
      cursor.read = this.next(cursor.read);
    }
    return (crc ^ 0xffffffff) >>> 0 === header.checksum ? header : null;
  }
}

interface Sequence {
  read: number;
  write: number;
  count: number;
  first: EntryHeader;
}

/** vhdx_log_search: the valid sequence whose first entry has the highest sequence number. */
async function search(log: Log): Promise<Sequence | null> {
  const cursor: Cursor = { read: 0, write: log.length };
  let candidate: Sequence | null = null;
  for (;;) {
    const tail = cursor.read;
    // Past the end of the file the log reads as zeros: nothing more to find before it wraps.
    if (log.pastEnd(tail)) break;
    const first = await log.validEntry(cursor, 0n);
    if (first) {
      const current: Sequence = { read: tail, write: cursor.read, count: 1, first };
      // As qemu: the second entry is taken whatever its number; later ones must follow on.
      let seq = 0n;
      for (;;) {
        const next = await log.validEntry(cursor, seq);
        if (!next) break;
        current.write = cursor.read;
        current.count++;
        seq = next.sequence;
      }
      if (!candidate || current.first.sequence > candidate.first.sequence) candidate = current;
    }
    if (cursor.read < tail) break;
  }
  return candidate;
}

/** vhdx_log_flush, into the overlay. */
async function replay(log: Log, overlay: OverlayStorage, sequence: Sequence): Promise<void> {
  const cursor: Cursor = { read: sequence.read, write: sequence.write };
  let replayed = 0;
  for (let n = 0; n < sequence.count; n++) {
    const entryAt = log.offset + cursor.read;
    const { header: peeked } = await log.peek(cursor);
    if (peeked.flushedFileOffset > BigInt(Math.ceil(overlay.size / 512) * 512)) {
      corrupt(
        log.storage,
        `the entry at log offset ${cursor.read} was written when the file was ${peeked.flushedFileOffset} bytes long; it is ${overlay.size}: the image has been truncated`,
        entryAt,
        'log flushed file offset',
      );
    }
    const { header, descriptors } = await log.descriptors(cursor);
    for (const d of descriptors) {
      if (++replayed > MAX_DESCRIPTORS)
        throw new DiskImgError('limit', `VHDX log: more than ${MAX_DESCRIPTORS} descriptors to replay`, {
          file: log.storage.name,
          field: 'log',
          offset: entryAt,
        });
      const length = d.zero ? d.zeroLength : BigInt(SECTOR);
      if (d.fileOffset + length > BigInt(MAX_FILE_END))
        corrupt(log.storage, `a descriptor writes at ${d.fileOffset} (+${length}), beyond any file`, entryAt, 'log descriptor');
      const at = Number(d.fileOffset);
      if (d.zero) {
        if (length > 0n) overlay.write(at, Number(length));
        continue;
      }
      if (cursor.read === cursor.write)
        corrupt(log.storage, `the entry at log offset ${entryAt - log.offset} has fewer data sectors than descriptors`, entryAt);
      const data = await log.sector(cursor.read);
      cursor.read = log.next(cursor.read);
      const seq = (BigInt(le32(data, 4)) << 32n) | BigInt(le32(data, 4092));
      if (seq !== d.sequence)
        corrupt(log.storage, `a data sector's sequence number ${seq} is not its descriptor's ${d.sequence}`, entryAt, 'log data sector');
      const sector = new Uint8Array(SECTOR);
      sector.set(d.leading, 0);
      sector.set(data.subarray(8, 4092), 8);
      sector.set(d.trailing, 4092);
      overlay.write(at, SECTOR, sector);
    }
    // As qemu: the file grows to the last file offset only when that is not a whole MiB.
    const last = header.lastFileOffset;
    if (BigInt(overlay.size) < last && last % BigInt(MiB) !== 0n) {
      const grown = ((last >> 20n) + 1n) << 20n;
      if (grown > BigInt(MAX_FILE_END))
        corrupt(log.storage, `the last file offset ${last} is beyond any file`, entryAt, 'log last file offset');
      overlay.grow(Number(grown));
    }
  }
}

/**
 * vhdx_parse_log: checks the log fields, and when the log holds an active sequence, replays it
 * into an overlay over `storage`. Returns `storage` itself when there is nothing to replay.
 */
export async function openLog(storage: Storage, header: VhdxHeader): Promise<{ storage: Storage; replayed: boolean }> {
  const at = header.index === 0 ? 64 * 1024 : 128 * 1024;
  const where = (field: string, offset: number, value: number) => ({ file: storage.name, field, offset: at + offset, value });
  if (header.logOffset < MiB || header.logOffset % MiB !== 0) {
    throw new DiskImgError(
      'invalid-format',
      `VHDX: log offset ${header.logOffset} is not a multiple of 1 MiB past the header section`,
      where('log offset', 72, header.logOffset),
    );
  }
  if (header.logVersion !== 0)
    throw new DiskImgError(
      'unsupported',
      `VHDX: log version ${header.logVersion} (only 0 is known)`,
      where('log version', 64, header.logVersion),
    );
  if (!hasLog(header)) return { storage, replayed: false };
  if (header.logLength % MiB !== 0)
    throw new DiskImgError(
      'invalid-format',
      `VHDX: log length ${header.logLength} is not a multiple of 1 MiB`,
      where('log length', 68, header.logLength),
    );
  const log = new Log(storage, header.logOffset, header.logLength, header.logGuidBytes);
  const sequence = await search(log);
  if (!sequence) return { storage, replayed: false };
  const overlay = new OverlayStorage(storage);
  await replay(new Log(overlay, header.logOffset, header.logLength, header.logGuidBytes, false), overlay, sequence);
  return { storage: overlay, replayed: true };
}
