// CRC-32C (Castagnoli), the checksum of a Kafka record batch, eight bytes a step (slicing-by-8 tables):
// the same values as kafkajs's byte-at-a-time loop, in about a third of its time.

/** Eight tables of 256 entries: TABLES[k * 256 + b] is the CRC of byte b followed by k zero bytes. */
const TABLES = new Int32Array(8 * 256);
for (let b = 0; b < 256; b++) {
  let c = b;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  TABLES[b] = c;
}
for (let b = 0; b < 256; b++) {
  for (let k = 1; k < 8; k++) {
    const prev = TABLES[(k - 1) * 256 + b]!;
    TABLES[k * 256 + b] = (prev >>> 8) ^ TABLES[prev & 0xff]!;
  }
}

/** The CRC-32C of buf[from, to), unsigned. */
export function crc32c(buf: Uint8Array, from = 0, to = buf.length): number {
  const t = TABLES;
  let crc = ~0;
  let i = from;
  for (const end8 = to - 8; i <= end8; i += 8) {
    crc ^= buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    crc = t[1792 + (crc & 0xff)]! ^ t[1536 + ((crc >>> 8) & 0xff)]! ^ t[1280 + ((crc >>> 16) & 0xff)]! ^ t[1024 + (crc >>> 24)]! ^
      t[768 + buf[i + 4]!]! ^ t[512 + buf[i + 5]!]! ^ t[256 + buf[i + 6]!]! ^ t[buf[i + 7]!]!;
  }
  for (; i < to; i++) crc = t[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
