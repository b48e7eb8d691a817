/**
 * Table-driven reflected CRC-32s: the zip/PNG CRC-32 (dataset archives) and CRC-32C
 * (Castagnoli, TensorBoard's TFRecord framing). A few lines each, so no library.
 */

function crcTable(reflectedPolynomial: number): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? reflectedPolynomial ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

const CRC32_TABLE = crcTable(0xedb88320);
const CRC32C_TABLE = crcTable(0x82f63b78);

function update(table: Uint32Array, bytes: Uint8Array, crc: number): number {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** CRC-32 (the zip/PNG polynomial) of `bytes`, continuing from `crc`. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  return update(CRC32_TABLE, bytes, crc);
}

/** CRC-32C (Castagnoli) of `bytes`, continuing from `crc`. */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  return update(CRC32C_TABLE, bytes, crc);
}
