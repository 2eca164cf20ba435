/**
 * diskimg's engine, platform-free: the package's main entry (`import … from 'diskimg'`). It reads
 * every format qemu-img 7.2 reads from any {@link Storage}, and writes raw or qcow2 into any
 * {@link Sink}; nothing here imports Node or the DOM, so the same calls run in a browser worker,
 * in Node, in Deno or in a service worker. Node's native files, zlib and crypto are in
 * `diskimg/node`; the browser's sinks (OPFS, the save picker, a Blob) in `diskimg/browser`.
 *
 * ```ts
 * const image = await openImage(new BlobStorage(file));      // probes the format, as qemu-img does
 * const sector = await image.read(0, 512);                    // guest bytes, whatever the format
 * console.log(await imageInfo(image));                        // qemu-img info's fields
 * await convertImage(image, sink, { outputFormat: 'qcow2' }); // qemu-img convert -O qcow2
 * await image.close();
 * ```
 *
 * @packageDocumentation
 * @module diskimg
 */

// Opening an image, reading its guest disk
export { openImage, unlockImage, lockedLayers, probeFormat, parseSnapshotSpec, MAX_CHAIN_DEPTH } from './open.ts';
export type { SnapshotWanted } from './formats/qcow2/snapshots.ts';
export type { DiskImage, OpenOptions, BackingResolver, Passphrase, PassphraseSource, EncryptedImageRef } from './disk.ts';
export type { Extent, ExtentKind, Layer, FormatFacts, SnapshotInfo, LeakedCluster } from './image.ts';
export type { ProbeResult } from './probe.ts';
export { DRIVERS as FORMATS } from './formats/index.ts';
export type { FormatDriver, OpenContext, ProbeScore } from './formats/index.ts';

// What qemu-img info, map, check and compare say
export { imageInfo, snapshotList, type QemuImageInfo, type InfoOptions } from './info.ts';
export { mapEntries, type MapEntry } from './map.ts';
export { checkImage, checkJson, type CheckResult } from './check.ts';
export { compareImages, type CompareResult, type CompareOptions } from './pipeline/compare.ts';
export { formatQemuJson, qdictKeyOrder, type KeyOrder } from './qemu-json.ts';
export {
  allocationPicture,
  layerHoldings,
  ALLOCATION_CLASSES,
  type AllocationClass,
  type AllocationPicture,
  type LayerHoldings,
} from './allocation.ts';
export {
  detectPartitions,
  hasPartitionInfo,
  type FilesystemInfo,
  type GuestReader,
  type Partition,
  type PartitionReport,
  type PartitionType,
  type VolumeInfo,
} from './partitions/index.ts';

// Conversion
export {
  convertImage,
  isSeekable,
  OUTPUT_FORMATS,
  type OutputFormat,
  type ConvertImageOptions,
  type StreamOutputFormat,
} from './pipeline/convert-image.ts';
export { OUTPUT_DRIVERS, outputDriver } from './formats/outputs.ts';
export type { OutputDriver, OutputOption, OutputOptionType, OutputOptionValues, OutputContext } from './formats/output/driver.ts';
export type { VmdkWriteOptions } from './formats/vmdk/write-sparse.ts';
export type { VpcWriteOptions } from './formats/vpc/write.ts';
export type { VdiWriteOptions } from './formats/vdi/write.ts';
export type { VhdxWriteOptions } from './formats/vhdx/write.ts';
export type { OvaSettings } from './formats/ova/write/options.ts';
export type { OvaController } from './formats/ova/write/ovf-envelope.ts';
export type { GuestWriter } from './formats/output/guest-writer.ts';
export type { HostFile, MetadataOverlay, Placement } from './formats/output/host-file.ts';
export type { OvaConvertOptions } from './formats/ova/write/convert.ts';
export type { StreamOptimizedSettings } from './formats/vmdk/write/stream-optimized.ts';
export type { PoolCodec } from './codecs/compressor-pool.ts';
export type { Qcow2ConvertOptions } from './pipeline/convert-qcow2.ts';
export type { ConvertOptions } from './pipeline/convert.ts';
export type { Qcow2WriteOptions } from './formats/qcow2/write/writer.ts';
export type { EncryptRequest, WriterEncryption } from './formats/qcow2/encryption.ts';
export type { CipherAlg, CipherMode, IvGenAlg, SectorCipher, CipherSpec } from './crypto/sector-cipher.ts';
export type { LuksHeader, LuksKeySlot } from './crypto/luks.ts';
export { measureOutput, type MeasureOptions } from './pipeline/measure.ts';

// Where bytes come from and go to
export { MemoryStorage, type BufferAllocator, type Storage } from './storage/storage.ts';
export { BlobStorage, type BlobStorageOptions } from './storage/blob.ts';
export { CachedStorage } from './storage/cached.ts';
export { MemorySink, CoalescingSink, type Sink } from './sink.ts';

// Codecs and crypto a platform may replace with faster ones
export {
  portableDecoders,
  type ClusterDecoders,
  type DecodeCluster,
  type DecodeClusterLater,
  type InThreadDecoders,
} from './codecs/decoders.ts';
export {
  deflateCompressor,
  zstdCompressor,
  inlineCompressor,
  type ClusterCompressor,
  type CompressCluster,
  type CompressionType,
  type ZstdEncode,
} from './codecs/compress.ts';
export {
  CompressorPool,
  type CompressBatch,
  type CompressReply,
  type CompressionThread,
  type StartThread,
} from './codecs/compressor-pool.ts';
export { portableCrypto, type CryptoProvider, type BlockCipher } from './crypto/provider.ts';
export type { HashAlg } from './crypto/hash.ts';

// Errors
export { DiskImgError, isDiskImgError, type ErrorKind, type ErrorContext } from './errors.ts';

// Disc images (ISO 9660, UDF)
export * from './iso/index.ts';
export type { Iso9660Volume, Truncation } from './iso/disc.ts';
export type { UdfTree } from './iso/udf-tree.ts';
export type { ZisofsSummary } from './iso/info.ts';
export type { Descriptors, DirectoryRef, VolumeDescriptor } from './iso/descriptors.ts';
export type { UdfVolume, LongAd, UdfPartition } from './iso/udf-volume.ts';
export type { Iso9660Tree } from './iso/iso9660.ts';
