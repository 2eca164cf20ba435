/** Big- and little-endian readers over a byte array, returning plain numbers where that is exact. */

export function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A 64-bit big-endian value as a number; exact up to 2^53, which no real offset exceeds. */
export function be64(v: DataView, offset: number): number {
  return v.getUint32(offset) * 0x1_0000_0000 + v.getUint32(offset + 4);
}

export function be64n(v: DataView, offset: number): bigint {
  return v.getBigUint64(offset);
}

export function isAllZero(bytes: Uint8Array): boolean {
  const aligned = bytes.byteOffset % 4 === 0 ? bytes.length >>> 2 : 0;
  if (aligned > 0) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, aligned);
    let i = 0;
    for (; i + 8 <= aligned; i += 8) {
      if ((words[i] | words[i + 1] | words[i + 2] | words[i + 3] | words[i + 4] | words[i + 5] | words[i + 6] | words[i + 7]) !== 0)
        return false;
    }
    for (; i < aligned; i++) if (words[i] !== 0) return false;
  }
  for (let i = aligned * 4; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

export const latin1 = (bytes: Uint8Array): string => {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
};

const utf8Decoder = new TextDecoder('utf-8');
export const utf8 = (bytes: Uint8Array): string => utf8Decoder.decode(bytes);

export const hex = (value: number | bigint): string => `0x${value.toString(16)}`;

/** C's "%#x": QEMU's messages print zero as "0", everything else with a 0x prefix. */
export const cHex = (value: number | bigint): string => (value == 0 ? '0' : hex(value));
