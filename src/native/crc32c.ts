/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78): the TypeScript twin of
 * native/core/crc32c.cc. Slicing-by-8 tables; identical results to the native hardware kernel.
 */

const POLY = 0x82f63b78;

function makeTables(): Uint32Array[] {
  const t0 = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[i] = c >>> 0;
  }
  const tables = [t0];
  for (let s = 1; s < 8; s++) {
    const prev = tables[s - 1]!;
    const next = new Uint32Array(256);
    for (let i = 0; i < 256; i++) next[i] = (prev[i]! >>> 8) ^ t0[prev[i]! & 0xff]!;
    tables.push(next);
  }
  return tables;
}

const [T0, T1, T2, T3, T4, T5, T6, T7] = makeTables() as [
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
];

/**
 * The CRC32C of `bytes`, continuing from `initial` (the CRC of the bytes before them, 0 for none),
 * so `crc32cTs(b, crc32cTs(a)) === crc32cTs(a ++ b)`.
 */
export function crc32cTs(bytes: Uint8Array, initial = 0): number {
  return crc32cTsRange(bytes, 0, bytes.length, initial);
}

/**
 * {@link crc32cTs} of `bytes[offset, offset + length)`, without a subarray: the WAL reader and
 * writer check or sign every record with it, and a view per record is garbage per record.
 */
export function crc32cTsRange(bytes: Uint8Array, offset: number, length: number, initial = 0): number {
  let reg = ~initial >>> 0;
  const n = offset + length;
  let i = offset;
  const end8 = n - (length % 8);
  while (i < end8) {
    const lo = (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)) ^ reg;
    reg =
      T7[lo & 0xff]! ^
      T6[(lo >>> 8) & 0xff]! ^
      T5[(lo >>> 16) & 0xff]! ^
      T4[lo >>> 24]! ^
      T3[bytes[i + 4]!]! ^
      T2[bytes[i + 5]!]! ^
      T1[bytes[i + 6]!]! ^
      T0[bytes[i + 7]!]!;
    i += 8;
  }
  while (i < n) reg = (reg >>> 8) ^ T0[(reg ^ bytes[i++]!) & 0xff]!;
  return ~reg >>> 0;
}
