/** Small helpers the writers share: fields written into headers, and what qemu fills by chance. */

export function ascii(target: Uint8Array, offset: number, text: string): void {
  for (let i = 0; i < text.length; i++) target[offset + i] = text.charCodeAt(i);
}

export function setBe64(v: DataView, offset: number, value: number): void {
  v.setBigUint64(offset, BigInt(value));
}

export function setLe64(v: DataView, offset: number, value: number): void {
  v.setBigUint64(offset, BigInt(value), true);
}

/** A random (version 4) UUID's 16 bytes, as qemu_uuid_generate makes one. */
export function randomUuid(): Uint8Array {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  return bytes;
}
