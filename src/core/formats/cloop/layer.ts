/**
 * A cloop V2.0 image (block/cloop.c): a shell-script preamble, block size and count, n + 1
 * absolute offsets, then each block zlib-compressed between two offsets. Every block is a
 * compressed extent; qemu-img map shows the disk as data without offsets (cloop has no block status).
 */
import { DiskImgError } from '../../errors.ts';
import type { Extent, FormatFacts, Layer } from '../../image.ts';
import type { Storage } from '../../storage/storage.ts';
import { ZlibBlockInflater } from './zlib-block.ts';

const TABLE_AT = 136;
const MAX_BLOCK = 64 << 20;
const MAX_TABLE = 512 << 20;

const invalid = (message: string, field: string, offset: number, value?: number) => {
  throw new DiskImgError('invalid-format', message, { field, offset, value });
};

export class CloopLayer implements Layer {
  readonly format = 'cloop';
  readonly virtualSize: number;
  readonly codecs = ['zlib'];
  private readonly inflater = new ZlibBlockInflater();
  private last?: { index: number; bytes: Uint8Array };

  private constructor(
    readonly storage: Storage,
    readonly blockSize: number,
    /** n + 1 file offsets: block i lies in [offsets[i], offsets[i + 1]). */
    private readonly offsets: Float64Array,
  ) {
    this.virtualSize = (offsets.length - 1) * blockSize;
  }

  get clusterSize(): number {
    return this.blockSize;
  }

  /** cloop_open's checks, in its order and words. */
  static async open(storage: Storage): Promise<CloopLayer> {
    const head = new DataView((await storage.read(128, 8)).slice().buffer);
    const blockSize = head.getUint32(0);
    if (blockSize % 512 !== 0) invalid(`block_size ${blockSize} must be a multiple of 512`, 'block_size', 128, blockSize);
    if (blockSize === 0) invalid('block_size cannot be zero', 'block_size', 128, 0);
    if (blockSize > MAX_BLOCK) invalid(`block_size ${blockSize} must be 64 MB or less`, 'block_size', 128, blockSize);
    const blocks = head.getUint32(4);
    const maxBlocks = Math.floor((0xffffffff - 1) / 8);
    if (blocks > maxBlocks) invalid(`n_blocks ${blocks} must be ${maxBlocks} or less`, 'n_blocks', 132, blocks);
    const tableBytes = (blocks + 1) * 8;
    if (tableBytes > MAX_TABLE) invalid('image requires too many offsets, try increasing block size', 'n_blocks', 132, blocks);
    // Entries past the end of the file read as zeros in QEMU: only those inside are read here.
    const inFile = Math.max(0, Math.min(blocks + 1, Math.ceil((storage.size - TABLE_AT) / 8)));
    const bytes = await storage.read(TABLE_AT, inFile * 8);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const offsets = new Float64Array(blocks + 1 === inFile ? inFile : inFile + 1);
    let previous = 0n;
    for (let i = 0; i < offsets.length; i++) {
      const value = i < inFile ? view.getBigUint64(i * 8) : 0n;
      if (i > 0) {
        if (value < previous)
          invalid(`offsets not monotonically increasing at index ${i}, image file is corrupt`, 'offsets', TABLE_AT + i * 8, Number(value));
        if (value - previous > BigInt(2 * MAX_BLOCK))
          invalid(
            `invalid compressed block size at index ${i}, image file is corrupt`,
            'offsets',
            TABLE_AT + i * 8,
            Number(value - previous),
          );
      }
      offsets[i] = Number(value);
      previous = value;
    }
    if (offsets.length !== blocks + 1) {
      // A table of zeros running past the end of the file: QEMU would take it (and fail every read).
      throw new DiskImgError('corrupt', `cloop offsets table (${blocks + 1} entries) runs past the end of the file`, {
        file: storage.name,
        field: 'n_blocks',
        offset: 132,
        value: blocks,
      });
    }
    return new CloopLayer(storage, blockSize, offsets);
  }

  describe(): Promise<FormatFacts> {
    return Promise.resolve({ 'dirty-flag': undefined });
  }

  async *mappings(start: number, end: number): AsyncGenerator<Extent> {
    end = Math.min(end, this.virtualSize);
    for (let guest = start; guest < end;) {
      const index = Math.floor(guest / this.blockSize);
      const blockStart = index * this.blockSize;
      const pieceEnd = Math.min(end, blockStart + this.blockSize);
      yield {
        start: guest,
        length: pieceEnd - guest,
        kind: 'compressed',
        depth: 0,
        hostOffset: this.offsets[index],
        compressedLength: this.offsets[index + 1] - this.offsets[index],
        clusterStart: blockStart,
      };
      guest = pieceEnd;
    }
  }

  async readExtent(extent: Extent, start: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.readExtentInto(extent, start, out);
    return out;
  }

  async readExtentInto(extent: Extent, start: number, target: Uint8Array): Promise<void> {
    const block = await this.block(Math.floor(extent.clusterStart! / this.blockSize));
    const from = start - extent.clusterStart!;
    target.set(block.subarray(from, from + target.length));
  }

  private async block(index: number): Promise<Uint8Array> {
    if (this.last?.index === index) return this.last.bytes;
    const at = this.offsets[index];
    const input = await this.storage.read(at, this.offsets[index + 1] - at);
    const bytes = new Uint8Array(this.blockSize);
    if (!this.inflater.inflate(input, bytes)) {
      throw new DiskImgError('corrupt', `cloop block ${index} at offset ${at} does not decompress (zlib) to ${this.blockSize} bytes`, {
        file: this.storage.name,
        field: 'compressed block',
        offset: at,
        value: index,
      });
    }
    this.last = { index, bytes };
    return bytes;
  }
}
