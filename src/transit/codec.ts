/**
 * Encoders and decoders for the bytes of a transit WAL segment: the segment header and records.
 * The layout is fixed by native/core/wal_format.h and src/transit/format.ts; this module only
 * turns values into those bytes and back, and never touches a file.
 *
 * Sequence numbers and segment numbers are u64 on disk and JavaScript numbers here. A value
 * above Number.MAX_SAFE_INTEGER cannot come from this writer (it would take centuries at any
 * rate), so the decoders treat one as damage.
 */
import { crc32c, crc32cRange } from '../crc32c.js';
import {
  FORMAT_VERSION,
  HEADER_OFF_CREATED,
  HEADER_OFF_CRC,
  HEADER_OFF_FIRST_SEQ,
  HEADER_OFF_SEGMENT,
  HEADER_OFF_SEGMENT_SIZE,
  HEADER_OFF_STORE_ID,
  HEADER_OFF_USED,
  HEADER_OFF_VERSION,
  MAGIC,
  MAX_SEGMENT_SIZE,
  MIN_SEGMENT_SIZE,
  RECORD_HEADER_SIZE,
  RECORD_OFF_CRC,
  RECORD_OFF_LENGTH,
  RECORD_OFF_SEQ,
  SEGMENT_HEADER_SIZE,
  SEGMENT_HEADER_USED,
  recordFootprint,
  STORE_ID_SIZE,
} from './format.js';
import type { Reasoned } from './reasons.js';

const MAGIC_BYTES = new TextEncoder().encode(MAGIC);
const TWO_32 = 0x1_0000_0000;
/** The largest high word of a u64 that still gives a safe integer. */
const MAX_SAFE_HIGH = Math.floor(Number.MAX_SAFE_INTEGER / TWO_32);

/** The fields of a segment header, as the writer fills them. */
export interface SegmentHeaderFields {
  /** Segment number (>= 1), equal to the number in the file name. */
  segment: number;
  /** Sequence number the first record of the segment gets. */
  firstSeq: number;
  /** The store id of the directory, 16 bytes. */
  storeId: Uint8Array;
  /** Creation time, milliseconds since the Unix epoch. */
  createdMs: number;
  /** The preallocated file length in bytes. */
  segmentSize: number;
}

/** A decoded segment header. */
export interface SegmentHeader extends SegmentHeaderFields {
  version: number;
  used: number;
}

/**
 * Why a header failed to decode: the reason the native core gives for the same bytes, with its
 * details (reasons.ts words it). `version` means another format version wrote it.
 */
export type SegmentHeaderProblem = { kind: 'damaged'; problem: Reasoned } | { kind: 'version'; version: number; problem: Reasoned };

export type SegmentHeaderDecode = { ok: true; header: SegmentHeader } | ({ ok: false } & SegmentHeaderProblem);

/** The three header fields of a record. */
export interface RecordHeader {
  crc: number;
  length: number;
  /** The sequence number, or -1 when the u64 on disk is above Number.MAX_SAFE_INTEGER. */
  seq: number;
}

// ---------------------------------------------------------------------------------------------
// Little-endian integer access on plain Uint8Arrays (no DataView per call, no BigInt).

/** Reads a u32 (little-endian) at `off`. */
export function readU32(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}

/** Writes `v` (0..2^32-1) as a u32 (little-endian) at `off`. */
export function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

/** Reads a u64 (little-endian) at `off`; -1 when it is above Number.MAX_SAFE_INTEGER. */
export function readU64(b: Uint8Array, off: number): number {
  const lo = readU32(b, off);
  const hi = readU32(b, off + 4);
  if (hi > MAX_SAFE_HIGH || (hi === MAX_SAFE_HIGH && lo > Number.MAX_SAFE_INTEGER - MAX_SAFE_HIGH * TWO_32)) return -1;
  return hi * TWO_32 + lo;
}

/** Writes a safe non-negative integer as a u64 (little-endian) at `off`. */
export function writeU64(b: Uint8Array, off: number, v: number): void {
  writeU32(b, off, v % TWO_32);
  writeU32(b, off + 4, Math.floor(v / TWO_32));
}

// ---------------------------------------------------------------------------------------------
// Store ids.

/** A store id as the 32 lowercase hex digits WAL_ID holds (byte 0 first). */
export function storeIdToHex(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
}

/** The 16 bytes of a store id written as 32 hex digits; null when the text is not that. */
export function storeIdFromHex(hex: string): Uint8Array | null {
  if (!/^[0-9a-f]{32}$/.test(hex)) return null;
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

// ---------------------------------------------------------------------------------------------
// Segment header.

/**
 * The first SEGMENT_HEADER_SIZE bytes of a segment: the 64 bytes in use, then zeros to the end
 * of the block.
 */
export function encodeSegmentHeader(fields: SegmentHeaderFields): Buffer {
  if (fields.storeId.length !== STORE_ID_SIZE) throw new RangeError(`storeId must be ${STORE_ID_SIZE} bytes`);
  const b = Buffer.alloc(SEGMENT_HEADER_SIZE);
  b.set(MAGIC_BYTES, 0);
  writeU32(b, HEADER_OFF_VERSION, FORMAT_VERSION);
  writeU32(b, HEADER_OFF_USED, SEGMENT_HEADER_USED);
  writeU64(b, HEADER_OFF_SEGMENT, fields.segment);
  writeU64(b, HEADER_OFF_FIRST_SEQ, fields.firstSeq);
  b.set(fields.storeId, HEADER_OFF_STORE_ID);
  writeU64(b, HEADER_OFF_CREATED, fields.createdMs);
  writeU32(b, HEADER_OFF_SEGMENT_SIZE, fields.segmentSize);
  writeU32(b, HEADER_OFF_CRC, crc32c(b.subarray(0, HEADER_OFF_CRC)));
  return b;
}

/**
 * Decodes and checks the header at the start of `bytes` (at least SEGMENT_HEADER_USED bytes for
 * a chance of success). Checks, in order: magic, version, checksum, header length in use,
 * numbers in range, segment size. The version is checked before the checksum because a header
 * of another version may lay its checksum out differently. Matching the file name and the
 * store id is the caller's job.
 */
export function decodeSegmentHeader(bytes: Uint8Array): SegmentHeaderDecode {
  const damaged = (reason: Reasoned['reason'], details: Reasoned['details'] = {}): SegmentHeaderDecode => ({
    ok: false,
    kind: 'damaged',
    problem: { reason, details },
  });
  if (bytes.length < SEGMENT_HEADER_USED) return damaged('header-incomplete', { available: bytes.length, expected: SEGMENT_HEADER_USED });
  for (let i = 0; i < MAGIC_BYTES.length; i++) {
    if (bytes[i] !== MAGIC_BYTES[i]) return damaged('bad-magic');
  }
  const version = readU32(bytes, HEADER_OFF_VERSION);
  const stored = readU32(bytes, HEADER_OFF_CRC);
  const actual = crc32c(bytes.subarray(0, HEADER_OFF_CRC));
  if (version !== FORMAT_VERSION) {
    return { ok: false, kind: 'version', version, problem: { reason: 'format-version', details: { version, expected: FORMAT_VERSION } } };
  }
  if (stored !== actual) return damaged('header-checksum', { stored, computed: actual });
  const used = readU32(bytes, HEADER_OFF_USED);
  if (used !== SEGMENT_HEADER_USED) return damaged('header-used', { used, expected: SEGMENT_HEADER_USED });
  const segment = readU64(bytes, HEADER_OFF_SEGMENT);
  const firstSeq = readU64(bytes, HEADER_OFF_FIRST_SEQ);
  const createdMs = readU64(bytes, HEADER_OFF_CREATED);
  if (segment < 1) return damaged('segment-number-range');
  if (firstSeq < 1) return damaged('first-seq-range');
  if (createdMs < 0) return damaged('created-range');
  const segmentSize = readU32(bytes, HEADER_OFF_SEGMENT_SIZE);
  if (segmentSize < MIN_SEGMENT_SIZE || segmentSize > MAX_SEGMENT_SIZE || segmentSize % SEGMENT_HEADER_SIZE !== 0) {
    return damaged('segment-size', { segmentSize });
  }
  return {
    ok: true,
    header: {
      version,
      used,
      segment,
      firstSeq,
      storeId: new Uint8Array(bytes.subarray(HEADER_OFF_STORE_ID, HEADER_OFF_STORE_ID + STORE_ID_SIZE)),
      createdMs,
      segmentSize,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Records.

/**
 * Writes record `seq` with `payload` into `target` at `offset` (a multiple of RECORD_ALIGN):
 * header, payload, zero padding. Returns the offset after the padding. The checksum covers
 * header bytes 4..16 and the payload, which lie back to back, so one CRC call covers both.
 */
export function encodeRecord(target: Uint8Array, offset: number, seq: number, payload: Uint8Array): number {
  const end = offset + RECORD_HEADER_SIZE + payload.length;
  const next = offset + recordFootprint(payload.length);
  writeU32(target, offset + RECORD_OFF_LENGTH, payload.length);
  writeU64(target, offset + RECORD_OFF_SEQ, seq);
  target.set(payload, offset + RECORD_HEADER_SIZE);
  if (next > end) target.fill(0, end, next);
  writeU32(target, offset + RECORD_OFF_CRC, crc32cRange(target, offset + RECORD_OFF_LENGTH, end - offset - RECORD_OFF_LENGTH));
  return next;
}

/** Reads the three fields of the record header at `offset` (16 bytes must be there). */
export function decodeRecordHeader(bytes: Uint8Array, offset: number): RecordHeader {
  return {
    crc: readU32(bytes, offset + RECORD_OFF_CRC),
    length: readU32(bytes, offset + RECORD_OFF_LENGTH),
    seq: readU64(bytes, offset + RECORD_OFF_SEQ),
  };
}

/** True when the 16 header bytes at `offset` are all zero: the end of the written part. */
export function isZeroRecordHeader(bytes: Uint8Array, offset: number): boolean {
  for (let i = 0; i < RECORD_HEADER_SIZE; i++) if (bytes[offset + i] !== 0) return false;
  return true;
}

/**
 * The checksum a record with this header must carry: CRC32C of header bytes 4..16 followed by
 * the payload. `bytes[offset ..offset + 16 + length)` must be present.
 */
export function recordChecksum(bytes: Uint8Array, offset: number, length: number): number {
  return crc32cRange(bytes, offset + RECORD_OFF_LENGTH, RECORD_HEADER_SIZE - RECORD_OFF_LENGTH + length);
}

/** The result of decoding one record from a buffer that holds the whole of it. */
export type RecordDecode = { kind: 'record'; seq: number; length: number; next: number } | { kind: 'end' } | { kind: 'bad'; problem: Reasoned };

/**
 * Decodes the record at `offset` of `bytes`, where `limit` is the end of the segment (in the
 * same coordinates). Returns 'end' for a zero header or fewer than RECORD_HEADER_SIZE zero
 * bytes before `limit` ('bad' when those bytes are not all zero: a cut header). For
 * whole-buffer use (tests, small segments); the recovery scan reads files in chunks with the
 * same rules.
 */
export function decodeRecord(bytes: Uint8Array, offset: number, limit = bytes.length): RecordDecode {
  if (offset + RECORD_HEADER_SIZE > limit) {
    for (let i = offset; i < limit; i++) if (bytes[i] !== 0) return { kind: 'bad', problem: partialHeaderProblem(limit - offset) };
    return { kind: 'end' };
  }
  if (isZeroRecordHeader(bytes, offset)) return { kind: 'end' };
  const h = decodeRecordHeader(bytes, offset);
  const problem = recordHeaderProblem(h, offset, limit);
  if (problem !== null) return { kind: 'bad', problem };
  const actual = recordChecksum(bytes, offset, h.length);
  if (actual !== h.crc) return { kind: 'bad', problem: checksumProblem(h.crc, actual) };
  return { kind: 'record', seq: h.seq, length: h.length, next: offset + recordFootprint(h.length) };
}

/** What is wrong with a (non-zero) record header before its checksum is looked at, or null. */
export function recordHeaderProblem(h: RecordHeader, offset: number, limit: number): Reasoned | null {
  const room = limit - offset - RECORD_HEADER_SIZE;
  if (h.length > room) return { reason: 'record-length', details: { length: h.length, left: Math.max(room, 0) } };
  if (h.seq < 1) return { reason: h.seq === 0 ? 'seq-zero' : 'seq-range', details: {} };
  return null;
}

/** Fewer than a header's bytes, not all zero, before the end of the segment. */
export function partialHeaderProblem(left: number): Reasoned {
  return { reason: 'partial-header', details: { left } };
}

/** A record whose checksum does not match. */
export function checksumProblem(stored: number, actual: number): Reasoned {
  return { reason: 'record-checksum', details: { stored, computed: actual } };
}
