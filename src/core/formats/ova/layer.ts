/**
 * An OVA as one layer: the chosen disk of the archive, read in place (no unpacking), wearing the
 * inner disk's format (vmdk, as qemu-img would call the disk itself). Its storage is the .ova;
 * host offsets of the inner disk's data are moved to their place in the .ova, so `map` points
 * into the archive. info's format-specific data gains an `ova` entry: the VM and its disks.
 */
import type { CheckResult, Extent, FormatFacts, Layer } from '../../image.ts';
import type { Storage } from '../../storage/storage.ts';

export interface OvaDiskFacts {
  'disk-id': string;
  filename: string;
  'virtual-size'?: number;
  format?: string;
}

export interface OvaFacts {
  'vm-id'?: string;
  'vm-name'?: string;
  /** The disk read (0-based, as --ova-disk counts). */
  disk: number;
  disks: OvaDiskFacts[];
}

export class OvaLayer implements Layer {
  readonly check?: () => Promise<CheckResult>;

  constructor(
    /** The .ova itself. */
    readonly storage: Storage,
    /** The chosen disk, opened from its tar member. */
    readonly inner: Layer,
    /** Where the member's bytes start in the .ova. */
    private readonly memberOffset: number,
    readonly facts: OvaFacts,
  ) {
    const innerCheck = inner.check?.bind(inner);
    if (innerCheck) this.check = async () => ({ ...(await innerCheck()), filename: storage.name });
  }

  get format(): string {
    return this.inner.format;
  }

  get virtualSize(): number {
    return this.inner.virtualSize;
  }

  get clusterSize(): number | undefined {
    return this.inner.clusterSize;
  }

  get statusSplit(): number | undefined {
    return this.inner.statusSplit;
  }

  /** The disk inside, and which of the appliance's disks it is. */
  get subformat(): string {
    const inner = this.inner.subformat ? `${this.inner.format} ${this.inner.subformat}` : this.inner.format;
    return `${inner} in an OVA (disk ${this.facts.disk + 1} of ${this.facts.disks.length})`;
  }

  get codecs(): readonly string[] | undefined {
    return this.inner.codecs;
  }

  hostFile(): string {
    return this.storage.name;
  }

  async describe(): Promise<FormatFacts> {
    const facts = { ...((await this.inner.describe?.()) ?? {}) };
    const specific = facts['format-specific'] as { type: string; data: Record<string, unknown> } | undefined;
    facts['format-specific'] = { type: specific?.type ?? this.format, data: { ...(specific?.data ?? {}), ova: this.facts } };
    return facts;
  }

  async *mappings(start: number, end: number): AsyncGenerator<Extent> {
    for await (const extent of this.inner.mappings(start, end)) {
      yield extent.hostOffset === undefined ? extent : { ...extent, hostOffset: extent.hostOffset + this.memberOffset };
    }
  }

  private innerExtent(extent: Extent): Extent {
    return extent.hostOffset === undefined ? extent : { ...extent, hostOffset: extent.hostOffset - this.memberOffset };
  }

  readExtent(extent: Extent, start: number, length: number): Promise<Uint8Array> {
    return this.inner.readExtent(this.innerExtent(extent), start, length);
  }

  async readExtentInto(extent: Extent, start: number, target: Uint8Array): Promise<void> {
    const inner = this.innerExtent(extent);
    if (this.inner.readExtentInto) await this.inner.readExtentInto(inner, start, target);
    else target.set(await this.inner.readExtent(inner, start, target.length));
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }
}
