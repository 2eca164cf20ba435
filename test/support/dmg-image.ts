/**
 * Writes UDIF disk images (.dmg) as Apple's hdiutil lays them out, for the tests (qemu-img cannot
 * make them): a data fork of chunks (zlib, bzip2, raw, zeros, ignored), one "mish" block table per
 * partition, described by an XML property list (base64 <data>) or an old-style resource fork, and
 * the 512-byte "koly" trailer.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

export const CHUNK = {
  zero: 0,
  raw: 1,
  ignore: 2,
  zlib: 0x80000005,
  bzip2: 0x80000006,
  lzfse: 0x80000007,
  comment: 0x7ffffffe,
  end: 0xffffffff,
} as const;

export interface DmgChunk {
  type: keyof typeof CHUNK;
  sectors: number;
  /** The chunk's guest bytes (sectors × 512); zeros when absent. */
  data?: Buffer;
}

export interface DmgSpec {
  /** Partitions, each one mish block; chunks follow each other from the partition's first sector. */
  partitions: DmgChunk[][];
  /** Old-style resource fork instead of an XML property list. */
  resourceFork?: boolean;
  /** Bytes after the koly trailer's expected place (odd file sizes): put before the trailer. */
  padding?: number;
}

function encode(chunk: DmgChunk): Buffer {
  const data = chunk.data ?? Buffer.alloc(chunk.sectors * 512);
  switch (chunk.type) {
    case 'zlib':
      return deflateSync(data);
    case 'bzip2':
      return execFileSync('bzip2', ['-c', '-9'], { input: data });
    case 'raw':
      return data;
    default:
      return Buffer.alloc(0);
  }
}

function mish(
  firstSector: number,
  dataOffset: number,
  entries: Array<{ type: number; sector: number; count: number; offset: number; length: number }>,
): Buffer {
  const out = Buffer.alloc(204 + entries.length * 40);
  out.write('mish', 0, 'latin1');
  out.writeUInt32BE(1, 4);
  out.writeBigUInt64BE(BigInt(firstSector), 8);
  out.writeBigUInt64BE(BigInt(entries.reduce((n, e) => Math.max(n, e.sector + e.count), 0)), 0x10);
  out.writeBigUInt64BE(BigInt(dataOffset), 0x18);
  out.writeUInt32BE(entries.length, 0xc8);
  entries.forEach((e, i) => {
    const at = 204 + i * 40;
    out.writeUInt32BE(e.type, at);
    out.writeBigUInt64BE(BigInt(e.sector), at + 8);
    out.writeBigUInt64BE(BigInt(e.count), at + 0x10);
    out.writeBigUInt64BE(BigInt(e.offset), at + 0x18);
    out.writeBigUInt64BE(BigInt(e.length), at + 0x20);
  });
  return out;
}

function plist(blocks: Buffer[]): Buffer {
  const items = blocks
    .map(
      (b, i) =>
        `\t\t\t<dict>\n\t\t\t\t<key>Attributes</key>\n\t\t\t\t<string>0x0050</string>\n\t\t\t\t<key>Data</key>\n\t\t\t\t<data>\n${b.toString('base64').replace(/(.{52})/g, '\t\t\t\t$1\n')}\n\t\t\t\t</data>\n\t\t\t\t<key>ID</key>\n\t\t\t\t<string>${i - 1}</string>\n\t\t\t\t<key>Name</key>\n\t\t\t\t<string>partition ${i}</string>\n\t\t\t</dict>\n`,
    )
    .join('');
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0">\n<dict>\n\t<key>resource-fork</key>\n\t<dict>\n\t\t<key>blkx</key>\n\t\t<array>\n${items}\t\t</array>\n\t\t<key>plst</key>\n\t\t<array>\n\t\t\t<dict>\n\t\t\t\t<key>Data</key>\n\t\t\t\t<data>\n\t\t\t\tAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n\t\t\t\t</data>\n\t\t\t</dict>\n\t\t</array>\n\t</dict>\n</dict>\n</plist>\n`,
    'latin1',
  );
}

function resourceFork(blocks: Buffer[]): Buffer {
  const body = Buffer.concat(
    blocks.map((b) =>
      Buffer.concat([Buffer.from([(b.length >>> 24) & 255, (b.length >>> 16) & 255, (b.length >>> 8) & 255, b.length & 255]), b]),
    ),
  );
  const head = Buffer.alloc(256);
  head.writeUInt32BE(256, 0);
  head.writeUInt32BE(256 + body.length, 4);
  head.writeUInt32BE(body.length, 8);
  head.writeUInt32BE(30, 12);
  return Buffer.concat([head, body, Buffer.alloc(30)]);
}

/** Writes the image; returns the guest disk it holds (what a reader must give back). */
export function dmgImage(file: string, spec: DmgSpec): Buffer {
  const pieces: Buffer[] = [];
  let dataLength = 0;
  let sector = 0;
  const blocks: Buffer[] = [];
  for (const partition of spec.partitions) {
    const first = sector;
    const partitionOffset = dataLength;
    const entries: Array<{ type: number; sector: number; count: number; offset: number; length: number }> = [];
    let local = 0;
    for (const chunk of partition) {
      const bytes = encode(chunk);
      // Offsets are relative to the partition's data offset (the mish block's DataOffset).
      entries.push({
        type: CHUNK[chunk.type],
        sector: local,
        count: chunk.sectors,
        offset: dataLength - partitionOffset,
        length: bytes.length,
      });
      pieces.push(bytes);
      dataLength += bytes.length;
      if (chunk.type !== 'comment' && chunk.type !== 'end') local += chunk.sectors;
    }
    entries.push({ type: CHUNK.end, sector: local, count: 0, offset: dataLength - partitionOffset, length: 0 });
    blocks.push(mish(first, partitionOffset, entries));
    sector += local;
  }
  const info = spec.resourceFork ? resourceFork(blocks) : plist(blocks);
  const infoOffset = dataLength;
  const koly = Buffer.alloc(512);
  koly.write('koly', 0, 'latin1');
  koly.writeUInt32BE(4, 4);
  koly.writeUInt32BE(512, 8);
  koly.writeUInt32BE(1, 12);
  koly.writeBigUInt64BE(0n, 0x18);
  koly.writeBigUInt64BE(BigInt(dataLength), 0x20);
  if (spec.resourceFork) {
    koly.writeBigUInt64BE(BigInt(infoOffset), 0x28);
    koly.writeBigUInt64BE(BigInt(info.length), 0x30);
  } else {
    koly.writeBigUInt64BE(BigInt(infoOffset), 0xd8);
    koly.writeBigUInt64BE(BigInt(info.length), 0xe0);
  }
  koly.writeUInt32BE(1, 0x38);
  koly.writeUInt32BE(1, 0x3c);
  koly.writeUInt32BE(1, 0x1e8);
  koly.writeBigUInt64BE(BigInt(sector), 0x1ec);
  writeFileSync(file, Buffer.concat([...pieces, info, Buffer.alloc(spec.padding ?? 0), koly]));
  return Buffer.concat(
    spec.partitions
      .flat()
      .filter((c) => c.type !== 'comment' && c.type !== 'end')
      .map((c) => (c.type === 'zero' || c.type === 'ignore' || !c.data ? Buffer.alloc(c.sectors * 512) : c.data)),
  );
}
