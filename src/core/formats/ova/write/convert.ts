/**
 * Any disk image → an OVA: a ustar archive holding, in this order, the OVF descriptor (VMware and
 * VirtualBox read the .ovf first), the disk as a streamOptimized VMDK in VMware's stream form, and
 * a .mf manifest of SHA256 digests. One job on either sink, the disk never held in memory:
 *
 * - Seekable: one pass. The .ovf's room is reserved first (the descriptor as long as its numbers
 *   could ever be), the VMDK streams in after it, hashed as it goes; then the real descriptor,
 *   padded with trailing spaces to the reserved length, and the VMDK's member header are written
 *   in front, and the manifest and the end-of-archive blocks after.
 * - Append-only: two passes. The .ovf states the VMDK's size and comes before it, so a first pass
 *   deflates the whole disk only to measure the VMDK (nothing kept but its length and grain
 *   count); the second writes it. Deflate is deterministic, and the second pass checks it got the
 *   same length.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import type { ClusterCompressor } from '../../../codecs/compress.ts';
import type { DiskImage } from '../../../disk.ts';
import { DiskImgError } from '../../../errors.ts';
import type { ConvertOptions } from '../../../pipeline/convert.ts';
import type { Sink } from '../../../sink.ts';
import { convertToStreamOptimizedVmdk } from '../../vmdk/write/convert.ts';
import { GRAIN_SIZE, type StreamOptimizedResult, type StreamOptimizedSettings } from '../../vmdk/write/stream-optimized.ts';
import type { OvaSettings } from './options.ts';
import { ovfEnvelope, type OvfMachine } from './ovf-envelope.ts';
import { BLOCK, padToBlock, tarHeader } from './tar-header.ts';

export interface OvaConvertOptions extends ConvertOptions {
  ova: OvaSettings;
  /** The machine's name when the settings give none; also names the archive's files. */
  defaultName: string;
  /** The VMDK descriptor's CID (random when absent, as QEMU draws it). */
  cid?: number;
  compressor?: ClusterCompressor;
  /** Seconds since 1970 for the members' mtime (now when absent). */
  mtime?: number;
}

export interface OvaResult {
  length: number;
  members: Array<{ name: string; size: number }>;
  vmdk: StreamOptimizedResult;
}

/** The largest number the descriptor ever states (2^53 - 1): its room is reserved at this width. */
const WIDEST = Number.MAX_SAFE_INTEGER;

type Hash = ReturnType<typeof sha256.create>;
const hexDigest = (hash: Hash) => Array.from(hash.digest(), (byte) => byte.toString(16).padStart(2, '0')).join('');

/** A tar member's bytes as an append-only sink at `base` of the archive, hashed on the way; no inner sink only counts. */
class MemberSink implements Sink {
  length = 0;
  constructor(
    private readonly inner: Sink | undefined,
    private readonly base: number,
    readonly hash: Hash | undefined,
  ) {}

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    if (offset !== this.length)
      throw new DiskImgError('io', `OVA: the disk's bytes came out of order (at ${offset}, expected ${this.length})`);
    this.hash?.update(bytes);
    await this.inner?.write(this.base + offset, bytes);
    this.length += bytes.length;
  }

  async close(): Promise<void> {}
}

/** File names inside the archive: the machine's name with anything tar or a hypervisor might trip on replaced. */
function memberBase(name: string): string {
  return (
    name
      .replace(/[^A-Za-z0-9._-]/g, '_')
      .replace(/^[.-]+/, '')
      .slice(0, 80) || 'disk'
  );
}

export async function convertToOva(image: DiskImage, sink: Sink, options: OvaConvertOptions): Promise<OvaResult> {
  const name = options.ova.name ?? options.defaultName;
  const base = memberBase(name);
  const files = { ovf: `${base}.ovf`, vmdk: `${base}-disk1.vmdk`, mf: `${base}.mf` };
  const mtime = options.mtime ?? Date.now() / 1000;
  const vmdkSettings: StreamOptimizedSettings = {
    adapterType: options.ova.controller === 'scsi' ? 'lsilogic' : 'ide',
    hwVersion: '4',
    toolsVersion: '2147483647',
    zeroedGrain: false,
    cid: options.cid ?? Math.floor(Math.random() * 0x1_0000_0000),
    extentName: files.vmdk,
  };
  const machine = (vmdk: { length: number; grains: number }): OvfMachine => ({
    name,
    cpus: options.ova.cpus,
    memory: options.ova.memory,
    controller: options.ova.controller,
    diskFile: files.vmdk,
    diskFileSize: vmdk.length,
    capacity: image.virtualSize,
    populatedSize: Math.min(vmdk.grains * GRAIN_SIZE, image.virtualSize),
  });
  const seekable = sink.truncate !== undefined;
  const total = image.virtualSize;
  const progress = (pass: number, passes: number) => (done: number) => options.onProgress?.((pass * total + done) / passes, total);
  const vmdkOptions = { settings: vmdkSettings, compressor: options.compressor, layout: 'stream' as const, signal: options.signal };

  let ovf: Uint8Array;
  let measured: StreamOptimizedResult | undefined;
  if (seekable) {
    ovf = new TextEncoder().encode(ovfEnvelope(machine({ length: WIDEST, grains: WIDEST / GRAIN_SIZE })));
  } else {
    measured = await convertToStreamOptimizedVmdk(image, new MemberSink(undefined, 0, undefined), {
      ...vmdkOptions,
      onProgress: progress(0, 2),
    });
    ovf = new TextEncoder().encode(ovfEnvelope(machine(measured)));
  }
  const ovfRoom = ovf.length;
  const vmdkStart = BLOCK + padToBlock(ovfRoom) + BLOCK;
  if (!seekable) await writeOvf(sink, ovf, files, mtime, measured!.length);

  const vmdkSink = new MemberSink(sink, vmdkStart, sha256.create());
  const vmdk = await convertToStreamOptimizedVmdk(image, vmdkSink, {
    ...vmdkOptions,
    onProgress: progress(seekable ? 0 : 1, seekable ? 1 : 2),
  });
  if (measured && measured.length !== vmdk.length)
    throw new DiskImgError(
      'io',
      `OVA: the disk came out at ${vmdk.length} bytes on the second pass, ${measured.length} on the first: the source changed while it was read`,
    );
  const vmdkEnd = vmdkStart + vmdk.length;
  const tailPad = padToBlock(vmdk.length) - vmdk.length;
  if (tailPad > 0) await sink.write(vmdkEnd, new Uint8Array(tailPad));

  if (seekable) {
    const text = new TextEncoder().encode(ovfEnvelope(machine(vmdk)));
    // Trailing spaces after the root element keep the XML well-formed and fill the reserved room.
    ovf = new Uint8Array(ovfRoom).fill(0x20);
    ovf.set(text);
    await writeOvf(sink, ovf, files, mtime, vmdk.length);
  }

  const members = [
    { name: files.ovf, size: ovf.length },
    { name: files.vmdk, size: vmdk.length },
  ];
  let at = vmdkEnd + tailPad;
  if (options.ova.manifest) {
    const ovfHash = sha256.create();
    ovfHash.update(ovf);
    const manifest = new TextEncoder().encode(
      `SHA256(${files.ovf})= ${hexDigest(ovfHash)}\nSHA256(${files.vmdk})= ${hexDigest(vmdkSink.hash!)}\n`,
    );
    const block = new Uint8Array(BLOCK + padToBlock(manifest.length));
    block.set(tarHeader(files.mf, manifest.length, mtime));
    block.set(manifest, BLOCK);
    await sink.write(at, block);
    at += block.length;
    members.push({ name: files.mf, size: manifest.length });
  }
  // Two zero blocks end the archive.
  await sink.write(at, new Uint8Array(2 * BLOCK));
  at += 2 * BLOCK;
  await sink.truncate?.(at);
  return { length: at, members, vmdk };
}

/** The .ovf member (header and padded text) at the archive's start, then the VMDK member's header after it. */
async function writeOvf(
  sink: Sink,
  ovf: Uint8Array,
  files: { ovf: string; vmdk: string },
  mtime: number,
  vmdkLength: number,
): Promise<void> {
  const bytes = new Uint8Array(BLOCK + padToBlock(ovf.length));
  bytes.set(tarHeader(files.ovf, ovf.length, mtime));
  bytes.set(ovf, BLOCK);
  await sink.write(0, bytes);
  await sink.write(bytes.length, tarHeader(files.vmdk, vmdkLength, mtime));
}
