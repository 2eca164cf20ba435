/**
 * The one shape every output format's writer takes, as `Layer` is the one shape every reader
 * answers. A writer allocates space in its file as QEMU's driver does on a guest write (L2
 * tables, a BAT, block bitmaps) and writes its own metadata; the pipeline (pipeline/convert-guest.ts)
 * decides which guest writes happen, in qemu-img convert's order, and hands the data over.
 */
export interface GuestWriter {
  /** Uncompressed guest bytes at `guestOffset`; writes come in guest order. */
  write(guestOffset: number, bytes: Uint8Array): Promise<void>;
  /**
   * One whole guest cluster, already compressed (null: it did not shrink; store `raw`). Only
   * formats that compress (qcow2, VMDK streamOptimized) have it.
   */
  writeCompressed?(clusterIndex: number, compressed: Uint8Array | null, raw: Uint8Array): Promise<void>;
  /**
   * write() may be called again before the previous one settles (each takes its place in the file
   * before its first await); the pipeline then keeps several in flight.
   */
  readonly concurrent?: boolean;
  /** Writes what metadata remains; after it the file is whole. */
  finish(): Promise<void>;
}
