/**
 * The disc engine's API, platform-free (Node and browser workers): open a disc image from any
 * Storage, summarise it, list one folder at a time, read files in chunks, picture its layout,
 * zip a folder as a stream, checksum the image and check a pasted SHA256SUMS.
 *
 *   const disc = await Disc.open(storage);            // ISO 9660 (+ Rock Ridge, Joliet, El Torito), UDF, or both
 *   const info = discInfo(disc);                       // DiscInfo, qemu-img-style kebab-case JSON
 *   const entry = await disc.resolve('/boot');         // DiscEntry
 *   const children = await disc.tree.list(entry);      // one folder, never the whole tree
 *   for await (const chunk of disc.read(file)) …       // ≤ 4 MiB chunks; { start, length, chunk } for ranges
 *   const regions = await discLayout(disc);            // ≤ 4096 regions; withGaps(regions, size) adds "free"
 *   for await (const chunk of zipStream(zipEntries(disc, folder))) …
 *   const sums = await checksums(storage, ['sha256'], wasmHashers, onProgress);
 *   const verdict = verifySums(pastedText, file.name, sums);
 */
export {
  checksums,
  parseSums,
  verifySums,
  HASH_LENGTH,
  type Hasher,
  type HasherFactory,
  type HashName,
  type SumLine,
  type Verdict,
} from './checksums.ts';
export { Disc, MAX_DEPTH, type OpenDiscOptions, type TreeKind } from './disc.ts';
export type { BootCatalog, BootEntry, Emulation, Platform } from './eltorito.ts';
export { zipEntries } from './extract.ts';
export { discInfo, entryJson, type DiscInfo } from './info.ts';
export { coalesce, discLayout, withGaps, type LayoutSpan, type Region, type RegionKind } from './layout.ts';
export type { PathTableReport } from './path-table.ts';
export type { SystemArea, SystemAreaPartition } from './system-area.ts';
export type { ByteRange, DiscEntry, DiscTree, EntryType } from './types.ts';
export { wasmHashers } from './wasm-hashers.ts';
export { crc32Update, zipStream, type ZipInput } from './zip.ts';
