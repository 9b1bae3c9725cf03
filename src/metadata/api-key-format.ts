/**
 * The API key format: `tap_<keyId>_<secret><check>`, 66 ASCII characters.
 *
 * | part     | length | content |
 * |----------|--------|---------|
 * | `tap_`   | 4      | fixed prefix, so a leaked key is recognisable by secret scanners |
 * | keyId    | 12     | random base62 (about 71 bits): the record's id, not secret |
 * | `_`      | 1      | separator |
 * | secret   | 43     | 32 random bytes (256 bits) as a fixed-length base62 number |
 * | check    | 6      | CRC32 of `tap_<keyId>_<secret>` as a fixed-length base62 number |
 *
 * Base62 (digits, upper case, lower case) keeps the key one word for double-click selection
 * and free of characters that need quoting. The checksum lets a mistyped or truncated key be
 * refused before any lookup. Keys are ASCII, so the CRC is computed over the characters' codes. Nothing in this module logs a key or puts one in an error message.
 */

import { randomFillSync } from 'node:crypto';
import { TapioError } from '../errors.js';

export const API_KEY_PREFIX = 'tap_';
export const KEY_ID_LENGTH = 12;
export const SECRET_BYTES = 32;
export const SECRET_LENGTH = 43; // 62^43 > 2^256
export const CHECKSUM_LENGTH = 6; // 62^6 > 2^32
export const API_KEY_LENGTH = API_KEY_PREFIX.length + KEY_ID_LENGTH + 1 + SECRET_LENGTH + CHECKSUM_LENGTH;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SEPARATOR_AT = API_KEY_PREFIX.length + KEY_ID_LENGTH;
const BODY_LENGTH = API_KEY_LENGTH - CHECKSUM_LENGTH;
/** The shape of a key, as a regular expression (documentation and tests; the code uses isWellFormed). */
export const API_KEY_PATTERN = new RegExp(`^${API_KEY_PREFIX}[0-9A-Za-z]{${KEY_ID_LENGTH}}_[0-9A-Za-z]{${SECRET_LENGTH + CHECKSUM_LENGTH}}$`);
const BASE62_CHAR = /^[0-9A-Za-z]$/;

/** A key split into its parts. `body` is `tap_<keyId>_<secret>`, the text that is HMACed. */
export interface ParsedApiKey {
  keyId: string;
  secret: string;
  body: string;
}

// One draw per key: bytes for its id (KEY_ID_LENGTH characters by rejection, with room for 20
// rejections), then its secret (SECRET_BYTES). Node makes a native job object for every
// randomFillSync call, so one call per key instead of two is half that garbage.
const drawn = Buffer.alloc(64);
const SECRET_AT = drawn.length - SECRET_BYTES;
// Scratch for encodeBase62 (a secret's 16-bit limbs), and the characters of a key being made.
const limbScratch = new Uint32Array(32);
const textScratch = Buffer.alloc(128);
const BASE62_CODES = Buffer.from(BASE62, 'latin1');

/** Writes base62 characters drawn by rejection from `bytes[from, to)` to `out` from `at` until `end`; returns where it stopped. */
function drawBase62Into(bytes: Uint8Array, from: number, to: number, out: Uint8Array, at: number, end: number): number {
  for (let i = from; i < to && at < end; i++) {
    const byte = bytes[i] as number;
    if (byte < 248) out[at++] = BASE62_CODES[byte % 62] as number; // 248 = 4 * 62: no modulo bias
  }
  return at;
}

/** `length` uniformly random base62 characters. */
export function randomBase62(length: number): string {
  const out = length <= textScratch.length ? textScratch : Buffer.alloc(length);
  let at = 0;
  while (at < length) {
    const n = Math.min(drawn.length, length - at + 8);
    randomFillSync(drawn, 0, n); // each key's bytes fresh from the CSPRNG: no future secret waits in memory
    at = drawBase62Into(drawn, 0, n, out, at, length);
  }
  drawn.fill(0);
  const text = out.toString('latin1', 0, length);
  out.fill(0, 0, length);
  return text;
}

/**
 * Writes the big-endian number in `bytes` to `out[at, at + length)` as exactly `length` base62
 * digits. Long division of 16-bit limbs by 62, which keeps every intermediate value a small
 * integer (no BigInt per digit).
 */
function encodeBase62Into(bytes: Uint8Array, length: number, out: Uint8Array, at: number): void {
  const count = Math.ceil(bytes.length / 2);
  const limbs = count <= limbScratch.length ? limbScratch : new Uint32Array(count);
  const odd = bytes.length % 2;
  for (let i = 0; i < count; i++) {
    const hi = odd === 1 && i === 0 ? 0 : (bytes[2 * i - odd] as number);
    limbs[i] = hi * 256 + (bytes[2 * i + 1 - odd] as number);
  }
  // Digits are written from the end; the leading ones are '0'.
  let next = at + length;
  let start = 0;
  while (start < count && limbs[start] === 0) start++;
  while (start < count) {
    let rem = 0;
    for (let i = start; i < count; i++) {
      const cur = rem * 65536 + (limbs[i] as number);
      limbs[i] = Math.floor(cur / 62);
      rem = cur % 62;
    }
    if (next === at) {
      limbs.fill(0, 0, count);
      throw new RangeError(`${bytes.length} bytes do not fit in ${length} base62 digits`);
    }
    out[--next] = BASE62_CODES[rem] as number;
    while (start < count && limbs[start] === 0) start++;
  }
  out.fill(0x30, at, next); // '0'
}

/** The big-endian number in `bytes`, as exactly `length` base62 digits. */
export function encodeBase62(bytes: Uint8Array, length: number): string {
  const out = length <= textScratch.length ? textScratch : Buffer.alloc(length);
  encodeBase62Into(bytes, length, out, 0);
  const text = out.toString('latin1', 0, length);
  out.fill(0, 0, length);
  return text;
}

/** The inverse of {@link encodeBase62}: `byteLength` big-endian bytes. */
export function decodeBase62(text: string, byteLength: number): Buffer {
  let n = 0n;
  for (const ch of text) {
    const digit = BASE62.indexOf(ch);
    if (digit < 0) throw new RangeError(`'${ch}' is not a base62 digit`);
    n = n * 62n + BigInt(digit);
  }
  const hex = n.toString(16).padStart(byteLength * 2, '0');
  if (hex.length > byteLength * 2) throw new RangeError(`the number does not fit in ${byteLength} bytes`);
  return Buffer.from(hex, 'hex');
}

const DIGIT_OF = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE62.length; i++) DIGIT_OF[BASE62.charCodeAt(i)] = i;

/** Whether `key` matches API_KEY_PATTERN (a loop over a lookup table: cheaper than the regex). */
function isWellFormed(key: string): boolean {
  if (key.length !== API_KEY_LENGTH || !key.startsWith(API_KEY_PREFIX)) return false;
  for (let i = API_KEY_PREFIX.length; i < API_KEY_LENGTH; i++) {
    const c = key.charCodeAt(i);
    if (i === SEPARATOR_AT ? c !== 0x5f : c >= 128 || (DIGIT_OF[c] as number) < 0) return false;
  }
  return true;
}

const CRC_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c;
}

/** CRC-32 (IEEE, as zlib) of an ASCII string's bytes. */
export function crc32Ascii(text: string): number {
  let c = -1;
  for (let i = 0; i < text.length; i++) c = (CRC_TABLE[(c ^ text.charCodeAt(i)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** The checksum characters at the end of `key`, as the number they encode. */
function checksumValue(key: string): number {
  let n = 0;
  for (let i = BODY_LENGTH; i < API_KEY_LENGTH; i++) n = n * 62 + (DIGIT_OF[key.charCodeAt(i)] as number);
  return n;
}

/** The 6-character checksum of a key body. */
export function checksumOf(body: string): string {
  let n = crc32Ascii(body);
  let out = '';
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

const SECRET_FROM = SEPARATOR_AT + 1;

/**
 * A new key. The caller shows `key` once and stores only an HMAC of `body`. The key is made in
 * a scratch buffer and read out as one string that `keyId`, `secret` and `body` are cut from:
 * the keys a burst of creations returns stay alive until their caller is done with them, and one
 * flat string is smaller than a chain of concatenations.
 */
export function generateApiKey(): ParsedApiKey & { key: string } {
  const out = textScratch;
  out.write(API_KEY_PREFIX, 0, 'latin1');
  randomFillSync(drawn); // each key's bytes fresh from the CSPRNG: no future secret waits in memory
  encodeBase62Into(drawn.subarray(SECRET_AT), SECRET_LENGTH, out, SECRET_FROM);
  const idEnd = drawBase62Into(drawn, 0, SECRET_AT, out, API_KEY_PREFIX.length, SEPARATOR_AT);
  drawn.fill(0);
  // More than 20 of 32 bytes refused (rare): the rest of the id from fresh draws.
  if (idEnd < SEPARATOR_AT) out.write(randomBase62(SEPARATOR_AT - idEnd), idEnd, 'latin1');
  out[SEPARATOR_AT] = 0x5f; // '_'
  out.write(checksumOf(out.toString('latin1', 0, BODY_LENGTH)), BODY_LENGTH, 'latin1');
  const key = out.toString('latin1', 0, API_KEY_LENGTH);
  out.fill(0, 0, API_KEY_LENGTH);
  return { keyId: key.slice(API_KEY_PREFIX.length, SEPARATOR_AT), secret: key.slice(SECRET_FROM, BODY_LENGTH), body: key.slice(0, BODY_LENGTH), key };
}

const CHECKSUM_MISMATCH = 'its checksum (the last 6 characters) does not match the rest of the key: a character was mistyped or changed';

/**
 * The key id and body of a well-formed key with a matching checksum, or null. This is the fast
 * path of verification: a table lookup per character and one CRC32; only the two result strings are allocated.
 */
export function scanApiKey(key: unknown): { keyId: string; body: string } | null {
  if (typeof key !== 'string' || !isWellFormed(key)) return null;
  const body = key.slice(0, BODY_LENGTH);
  if (crc32Ascii(body) !== checksumValue(key)) return null;
  return { keyId: key.slice(API_KEY_PREFIX.length, SEPARATOR_AT), body };
}

/** Splits a key, or says what is wrong with it. */
function checkApiKey(key: unknown): ParsedApiKey | string {
  if (typeof key !== 'string') return `an API key must be a string, got ${key === null ? 'null' : typeof key}`;
  if (!isWellFormed(key)) return describeMalformed(key);
  const scanned = scanApiKey(key);
  if (scanned === null) return CHECKSUM_MISMATCH;
  return { ...scanned, secret: key.slice(SEPARATOR_AT + 1, BODY_LENGTH) };
}

function describeMalformed(key: string): string {
  if (!key.startsWith(API_KEY_PREFIX)) return `it does not start with '${API_KEY_PREFIX}'`;
  if (key.length !== API_KEY_LENGTH) {
    return `it is ${key.length} characters long, an API key has ${API_KEY_LENGTH} (${API_KEY_PREFIX}, a ${KEY_ID_LENGTH}-character id, '_', ${SECRET_LENGTH + CHECKSUM_LENGTH} characters): it was truncated or extended when copied`;
  }
  if (key[SEPARATOR_AT] !== '_') return `character ${SEPARATOR_AT + 1} must be '_' (after the ${KEY_ID_LENGTH}-character key id)`;
  for (let i = API_KEY_PREFIX.length; i < key.length; i++) {
    if (i !== SEPARATOR_AT && !BASE62_CHAR.test(key[i] as string)) return `character ${i + 1} is not a letter or digit`;
  }
  return 'it is not of the form tap_<keyId>_<secret><check>';
}

/**
 * Splits an API key into its parts, refusing a malformed one.
 *
 * @throws TapioError ERR_API_KEY_FORMAT saying what is wrong (never quoting the key).
 * @example
 * ```ts
 * const { keyId } = parseApiKey(process.env.TAPIO_API_KEY);
 * ```
 */
export function parseApiKey(key: unknown): ParsedApiKey {
  const parsed = checkApiKey(key);
  if (typeof parsed === 'string') throw new TapioError('ERR_API_KEY_FORMAT', `Not a valid tapio API key: ${parsed}.`);
  return parsed;
}
