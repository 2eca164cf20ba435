/**
 * Opening a VMDK as vmdk_open does: a sparse file (its descriptor embedded at sector 1) or a
 * descriptor file naming its extents, each extent file found beside it.
 */
import { DiskImgError, isDiskImgError } from '../../errors.ts';
import { combinePath } from '../../paths.ts';
import type { Storage } from '../../storage/storage.ts';
import type { OpenContext } from '../driver.ts';
import {
  EMBEDDED_DESCRIPTOR_OFFSET,
  EMBEDDED_DESCRIPTOR_SIZE,
  MAX_DESCRIPTOR_FILE,
  descriptorFileType,
  descriptorText,
  parentFileNameHint,
  parseExtentLines,
  readCid,
} from './descriptor.ts';
import { SparseExtent, type VmdkExtent } from './extent.ts';
import { VmdkLayer } from './layer.ts';
import { SeSparseExtent } from './sesparse.ts';
import { COWD, KDMV, readCowdHeader, readSparseHeader } from './sparse-header.ts';

/** A descriptor naming a sparse file that holds only a descriptor naming …: QEMU recurses; we stop here. */
const MAX_NESTING = 4;

interface Opened {
  extents: VmdkExtent[];
  createType: string;
}

export async function openVmdk(storage: Storage, ctx: OpenContext): Promise<VmdkLayer> {
  const opened: VmdkExtent[] = [];
  try {
    const magic = await readMagic(storage);
    let result: Opened;
    let descriptorAt: number;
    if (magic === KDMV || magic === COWD) {
      result = await openSparseFile(storage, false, ctx, 0, opened);
      descriptorAt = EMBEDDED_DESCRIPTOR_OFFSET;
    } else {
      result = await openDescriptor(storage, await readDescriptorFile(storage, 0), ctx, 0, opened);
      descriptorAt = 0;
    }
    // vmdk_parent_open and vmdk_read_cid read DESC_SIZE bytes where the descriptor is.
    const text = descriptorText(await storage.read(descriptorAt, EMBEDDED_DESCRIPTOR_SIZE));
    const file = storage.name;
    const backingFilename = parentFileNameHint(text, file);
    const cid = readCid(text, false, file);
    const parentCid = readCid(text, true, file);
    return new VmdkLayer(storage, result.extents, { cid, parentCid, createType: result.createType, backingFilename });
  } catch (error) {
    for (const extent of opened) if (extent.ownsStorage) await extent.storage.close?.().catch(() => {});
    throw error;
  }
}

async function readMagic(storage: Storage): Promise<number> {
  if (storage.size < 4)
    throw new DiskImgError('invalid-format', 'File is too small, not a valid image', {
      file: storage.name,
      field: 'magic',
      offset: 0,
      value: storage.size,
    });
  const head = await storage.read(0, 4);
  return ((head[0] << 24) | (head[1] << 16) | (head[2] << 8) | head[3]) >>> 0;
}

/** vmdk_read_desc: up to 1 MiB of text from `offset`. */
async function readDescriptorFile(storage: Storage, offset: number): Promise<string> {
  const length = Math.min(storage.size, MAX_DESCRIPTOR_FILE);
  return descriptorText(await storage.read(offset, length));
}

/** A sparse file as the image itself or as a SPARSE extent of a descriptor (vmdk_open_sparse). */
async function openSparseFile(
  storage: Storage,
  owns: boolean,
  ctx: OpenContext,
  depth: number,
  opened: VmdkExtent[],
  type = '',
): Promise<Opened> {
  const magic = await readMagic(storage);
  if (magic === COWD) {
    const start = opened.reduce((sum, e) => sum + e.length, 0);
    opened.push(await SparseExtent.open(storage, owns, start, type, await readCowdHeader(storage)));
    // vmdk_open_vmfs_sparse names no create type: a COWD file opened by itself has none.
    return { extents: opened, createType: '' };
  }
  if (magic !== KDMV)
    throw new DiskImgError('invalid-format', 'Image not in VMDK format', { file: storage.name, field: 'magic', offset: 0 });
  const { header, descriptorOnly } = await readSparseHeader(storage);
  if (descriptorOnly) {
    if (depth >= MAX_NESTING)
      throw new DiskImgError('limit', 'VMDK descriptors nest too deep', { file: storage.name, field: 'descriptorOffset', offset: 28 });
    return openDescriptor(storage, await readDescriptorFile(storage, header.descriptorOffset * 512), ctx, depth + 1, opened);
  }
  const start = opened.reduce((sum, e) => sum + e.length, 0);
  const extent = await SparseExtent.open(storage, owns, start, type, header);
  opened.push(extent);
  return { extents: opened, createType: extent.compressed ? 'streamOptimized' : 'monolithicSparse' };
}

/** vmdk_open_desc_file and vmdk_parse_extents. */
async function openDescriptor(storage: Storage, text: string, ctx: OpenContext, depth: number, opened: VmdkExtent[]): Promise<Opened> {
  const file = storage.name;
  let createType = descriptorFileType(text, file);
  for (const line of parseExtentLines(text, file)) {
    let found: Storage | null;
    try {
      found = await ctx.resolveFile(line.fileName);
    } catch (error) {
      if (isDiskImgError(error)) throw new DiskImgError(error.kind, error.message, { ...error.context, field: 'extent file' });
      throw error;
    }
    if (!found)
      throw new DiskImgError('not-found', `Could not open '${combinePath(file, line.fileName)}': No such file or directory`, {
        file: line.fileName,
        field: 'extent file',
      });
    const start = opened.reduce((sum, e) => sum + e.length, 0);
    try {
      if (line.type === 'FLAT' || line.type === 'VMFS') {
        opened.push({
          flat: true,
          storage: found,
          ownsStorage: true,
          start,
          length: line.sectors * 512,
          type: line.type,
          flatOffset: line.flatOffset,
        });
      } else if (line.type === 'SPARSE' || line.type === 'VMFSSPARSE') {
        const inner = await openSparseFile(found, true, ctx, depth, opened, line.type);
        // vmdk_open_vmdk4 names a compressed extent's image streamOptimized, whatever the descriptor says.
        if (inner.createType === 'streamOptimized') createType = inner.createType;
        if (!opened.some((e) => e.storage === found)) await found.close?.();
      } else {
        opened.push(await SeSparseExtent.open(found, true, start, line.type));
      }
    } catch (error) {
      if (!opened.some((e) => e.storage === found)) await found.close?.().catch(() => {});
      throw error;
    }
  }
  return { extents: opened, createType };
}
