/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as VHDX checksums its headers, region tables and log entries. */
const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** Continues a running CRC (start from 0xffffffff, finish with `^ 0xffffffff`). */
export function crc32cUpdate(crc: number, bytes: Uint8Array): number {
  let c = crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return c >>> 0;
}

/**
 * Whether `bytes` carries its own CRC-32C (little-endian) at `at`: the sum is taken with that field
 * read as zero, as MS-VHDX defines it.
 */
export function checksumValid(bytes: Uint8Array, at: number): boolean {
  const stored = (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
  let crc = crc32cUpdate(0xffffffff, bytes.subarray(0, at));
  crc = crc32cUpdate(crc, new Uint8Array(4));
  crc = crc32cUpdate(crc, bytes.subarray(at + 4));
  return (crc ^ 0xffffffff) >>> 0 === stored;
}
