/**
 * A format driver, as QEMU's BlockDriver: a record of what one format can do — score a file's
 * first bytes, open it as a Layer. Every format is one folder under formats/ with one driver,
 * registered in formats/index.ts; probing, opening, the CLI's help and the page read that table.
 */
import type { OpenOptions } from '../disk.ts';
import type { Layer } from '../image.ts';
import type { Storage } from '../storage/storage.ts';

/** What probing says of a file, as qemu scores it (raw 1, a sure magic 100). */
export interface ProbeScore {
  score: number;
  /** What the content is, for a raw image whose bytes we recognise (an ISO 9660 file system). */
  content?: string;
}

export interface OpenContext {
  /** The caller's options (snapshot, decoders, passphrase, …); each driver takes what applies. */
  readonly options: OpenOptions;
  /** 0 for the image the user opened, 1 for its backing file, … */
  readonly depth: number;
  /**
   * Finds a file this image names as part of itself (a VMDK's extent, a qcow2's data file),
   * relative to the image as qemu-img finds it; null when it cannot be found.
   */
  resolveFile(name: string): Promise<Storage | null>;
  /**
   * Opens a file held inside this one (a disk inside an OVA) as whatever format it is — probed
   * when `format` is not given — with the same options.
   */
  openNested(storage: Storage, format?: string): Promise<Layer>;
}

export interface FormatDriver {
  /** qemu-img's name for the format (-f, -O, "file format:"). */
  readonly name: string;
  /** For people: what the format is and who makes it. */
  readonly title: string;
  /** File name endings the format usually has (the page's picker, the installed app's file types). */
  readonly extensions: readonly string[];
  /**
   * Scores `head` (the first 512 bytes; the rest through `storage`) as qemu's bdrv_probe does;
   * null or 0 when the file is not of this format. Formats without a probe are only opened by name.
   */
  probe?(head: Uint8Array, storage: Storage): ProbeScore | null | Promise<ProbeScore | null>;
  open(storage: Storage, context: OpenContext): Promise<Layer>;
}
