/**
 * One error type for everything the engine refuses or fails at. `kind` is small and stable so
 * the UI and the CLI can explain it; `context` says where (field, offset, value) and survives
 * structured cloning across a worker boundary (see toJSON / fromJSON).
 */
export type ErrorKind =
  | 'invalid-format' // the bytes are not what the format says they must be
  | 'unsupported' // valid, but a feature we do not handle (yet)
  | 'corrupt' // the image contradicts itself (tables pointing to nonsense)
  | 'limit' // a size or count beyond what we (and QEMU) accept
  | 'not-found' // a named file, snapshot or backing image is missing
  | 'io' // reading or writing failed
  | 'usage' // the caller asked for something that makes no sense
  | 'needs-passphrase' // the image is encrypted and no passphrase was given for it
  | 'wrong-passphrase' // the passphrase given opens none of the image's key slots
  | 'aborted'; // cancelled by the user

export interface ErrorContext {
  file?: string;
  field?: string;
  offset?: number;
  value?: number | string | bigint;
  [key: string]: unknown;
}

export class DiskImgError extends Error {
  override readonly name = 'DiskImgError';
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly context: ErrorContext = {},
  ) {
    super(message);
  }

  toJSON(): { kind: ErrorKind; message: string; context: ErrorContext } {
    const context: ErrorContext = {};
    for (const [key, value] of Object.entries(this.context)) {
      context[key] = typeof value === 'bigint' ? `0x${value.toString(16)}` : value;
    }
    return { kind: this.kind, message: this.message, context };
  }

  static fromJSON(data: { kind: ErrorKind; message: string; context?: ErrorContext }): DiskImgError {
    return new DiskImgError(data.kind, data.message, data.context ?? {});
  }
}

export function isDiskImgError(error: unknown): error is DiskImgError {
  return error instanceof DiskImgError;
}

export const fail = (kind: ErrorKind, message: string, context?: ErrorContext): never => {
  throw new DiskImgError(kind, message, context);
};
