/**
 * The engine in a worker, exposed with Comlink. A thin adapter: it turns Files into Storage and
 * engine errors into plain data (Comlink keeps only an Error's name, message and stack).
 */
import * as Comlink from 'comlink';
import { DiskImgError, type ErrorKind } from '../src/core/errors.ts';
import { imageInfo, type QemuImageInfo } from '../src/core/info.ts';
import { openImage, probeFormat } from '../src/core/open.ts';
import { BlobStorage } from '../src/core/storage/storage.ts';

export interface SerializedError {
  kind: ErrorKind | 'internal';
  message: string;
  context: Record<string, unknown>;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

export interface Inspection {
  info: QemuImageInfo;
  /** What the bytes of a raw image are, when we recognise them (an ISO, a UDF disc). */
  content?: string;
}

function serialize(error: unknown): SerializedError {
  if (error instanceof DiskImgError) return error.toJSON() as SerializedError;
  return { kind: 'internal', message: String((error as Error)?.message ?? error), context: {} };
}

const api = {
  async inspect(file: File): Promise<Result<Inspection>> {
    try {
      const storage = new BlobStorage(file, file.name);
      const probed = await probeFormat(storage);
      const image = await openImage(storage, { noBacking: true });
      const info = await imageInfo(image);
      await image.close();
      return { ok: true, value: { info, content: probed.content } };
    } catch (error) {
      return { ok: false, error: serialize(error) };
    }
  },
};

export type EngineApi = typeof api;

Comlink.expose(api);
