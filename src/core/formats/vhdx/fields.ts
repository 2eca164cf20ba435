/** Little-endian fields and MS GUIDs (the first three groups little-endian), as VHDX stores them. */
export const le16 = (b: Uint8Array, at: number): number => b[at] | (b[at + 1] << 8);
export const le32 = (b: Uint8Array, at: number): number => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
export const le64n = (b: Uint8Array, at: number): bigint => (BigInt(le32(b, at + 4)) << 32n) | BigInt(le32(b, at));
/** A 64-bit field as a number, or null beyond 2^53. */
export const le64 = (b: Uint8Array, at: number): number | null => {
  const hi = le32(b, at + 4);
  return hi >= 0x200000 ? null : hi * 2 ** 32 + le32(b, at);
};

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

/** The GUID at `at` in its usual text form (lower case). */
export function leGuid(b: Uint8Array, at: number): string {
  const d1 = le32(b, at).toString(16).padStart(8, '0');
  const d2 = le16(b, at + 4)
    .toString(16)
    .padStart(4, '0');
  const d3 = le16(b, at + 6)
    .toString(16)
    .padStart(4, '0');
  const d4 = Array.from(b.subarray(at + 8, at + 16), hex2).join('');
  return `${d1}-${d2}-${d3}-${d4.slice(0, 4)}-${d4.slice(4)}`;
}
export const guidString = leGuid;

export const isZeroGuid = (guid: string): boolean => /^[0-]+$/.test(guid);

/** UTF-16LE text. */
export function utf16le(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i + 1 < b.length; i += 2) out += String.fromCharCode(b[i] | (b[i + 1] << 8));
  return out;
}
