/** qemu-img's -o options for qcow2, checked as qemu-img checks them. */
import type { Qcow2WriteOptions } from '../core/formats/qcow2/write/writer.ts';
import { parseSize } from './args.ts';

const KNOWN = new Set(['cluster_size', 'compat', 'compression_type', 'refcount_bits', 'lazy_refcounts', 'preallocation', 'backing_file', 'backing_fmt', 'size', 'extended_l2']);

export function qcow2Options(options: Map<string, string>): Partial<Qcow2WriteOptions> & { error?: string } {
  const out: Partial<Qcow2WriteOptions> = {};
  for (const [key, value] of options) {
    if (!KNOWN.has(key)) return { error: `Invalid parameter '${key}'` };
    switch (key) {
      case 'cluster_size': {
        const size = parseSize(value);
        if (size === undefined) return { error: `Parameter 'cluster_size' expects a non-negative number below 2^64` };
        out.clusterSize = size;
        break;
      }
      case 'compat':
        if (value === 'v2' || value === '0.10') out.compat = '0.10';
        else if (value === 'v3' || value === '1.1') out.compat = '1.1';
        else return { error: `Parameter 'version' does not accept value '${value}'` };
        break;
      case 'compression_type':
        if (value !== 'zlib' && value !== 'zstd') return { error: `Parameter 'compression-type' does not accept value '${value}'` };
        out.compressionType = value;
        break;
      case 'refcount_bits':
        out.refcountBits = Number(value);
        if (!Number.isInteger(out.refcountBits)) return { error: `Parameter 'refcount_bits' expects a non-negative number below 2^64` };
        break;
      case 'lazy_refcounts':
        if (value !== 'on' && value !== 'off') return { error: `Parameter 'lazy_refcounts' expects 'on' or 'off'` };
        out.lazyRefcounts = value === 'on';
        break;
      case 'extended_l2':
        if (value === 'on') return { error: 'extended_l2=on is not supported yet when writing' };
        break;
      case 'preallocation':
        if (value !== 'off' && value !== 'metadata') return { error: `preallocation=${value} is not supported (metadata and off are)` };
        out.preallocation = value;
        break;
      case 'backing_file':
        out.backingFile = value;
        break;
      case 'backing_fmt':
        out.backingFormat = value;
        break;
    }
  }
  return out;
}
