/**
 * The on-disk format of the transit write-ahead log: the TypeScript source of truth, twin of
 * native/core/wal_format.h (a test proves they agree). docs/FORMAT.md describes every byte.
 * All integers are little-endian.
 */

export const MAGIC = 'TAPIOWAL';
export const FORMAT_VERSION = 1;
export const SEGMENT_HEADER_SIZE = 4096;
export const SEGMENT_HEADER_USED = 64;
export const RECORD_HEADER_SIZE = 16;
export const RECORD_ALIGN = 8;
export const DEFAULT_ALIGNMENT = 4096;
export const DEFAULT_SEGMENT_SIZE = 64 * 1024 * 1024;
export const MIN_SEGMENT_SIZE = 1024 * 1024;
export const MAX_SEGMENT_SIZE = 1024 * 1024 * 1024;
export const SEGMENT_SUFFIX = '.wal';
export const BROKEN_SUFFIX = '.broken';
export const ID_FILE_NAME = 'WAL_ID';
export const CHECKPOINT_FILE_NAME = 'CHECKPOINT';
export const CHECKPOINT_FORMAT_NAME = 'tapio-wal-checkpoint';
/** The stretches salvage set aside, which later opens, reads and verify accept (docs/FORMAT.md). */
export const SALVAGED_FILE_NAME = 'SALVAGED';
export const SALVAGED_FORMAT_NAME = 'tapio-wal-salvaged';
/** The most bytes SALVAGED may hold (about 10,000 stretches). */
export const MAX_SALVAGED_FILE_BYTES = 1024 * 1024;
/** The "format" of WAL_ID. */
export const WAL_FORMAT_NAME = 'tapio-wal';
/** The lock file of the WAL directory (src/fs/dir-lock.ts): the OS lock is taken on it; it holds the owner's process id, for messages only. */
export const LOCK_FILE_NAME = 'LOCK';
/** The most bytes WAL_ID or CHECKPOINT may hold. */
export const MAX_SMALL_FILE_BYTES = 64 * 1024;
/** The most levels of arrays and objects a member of WAL_ID or CHECKPOINT may nest (deeper: unreadable). */
export const MAX_SMALL_FILE_NESTING = 65;
export const STORE_ID_SIZE = 16;
/** Sequence numbers, segment numbers and times above 2^53 - 1 are damage on both paths. */
export const MAX_SAFE_NUMBER = Number.MAX_SAFE_INTEGER;

export const HEADER_OFF_VERSION = 8;
export const HEADER_OFF_USED = 12;
export const HEADER_OFF_SEGMENT = 16;
export const HEADER_OFF_FIRST_SEQ = 24;
export const HEADER_OFF_STORE_ID = 32;
export const HEADER_OFF_CREATED = 48;
export const HEADER_OFF_SEGMENT_SIZE = 56;
export const HEADER_OFF_CRC = 60;

/**
 * The sparse index of a sealed segment, `<16 hex digits>.idx` beside it: one entry (sequence
 * number, byte offset) for every record whose bytes reach a multiple of INDEX_SPACING (see
 * indexesRecord). A cache: a missing or damaged file is rebuilt from the segment.
 */
export const INDEX_MAGIC = 'TAPIOIDX';
export const INDEX_SUFFIX = '.idx';
export const INDEX_SPACING = 64 * 1024;
export const INDEX_HEADER_SIZE = 64;
export const INDEX_ENTRY_SIZE = 16;
export const INDEX_OFF_VERSION = 8;
export const INDEX_OFF_COUNT = 12;
export const INDEX_OFF_SEGMENT = 16;
export const INDEX_OFF_FIRST_SEQ = 24;
export const INDEX_OFF_LAST_SEQ = 32;
export const INDEX_OFF_STORE_ID = 40;
export const INDEX_OFF_SPACING = 56;

export const RECORD_OFF_CRC = 0;
export const RECORD_OFF_LENGTH = 4;
export const RECORD_OFF_SEQ = 8;

/** Bytes a record of `payload` bytes takes in a segment, padding included. */
export function recordFootprint(payload: number): number {
  return (RECORD_HEADER_SIZE + payload + RECORD_ALIGN - 1) & ~(RECORD_ALIGN - 1);
}

/**
 * True when the record at byte `offset` taking `footprint` bytes gets an index entry: when a
 * multiple of INDEX_SPACING lies in (offset, offset + footprint]. Depends on nothing but the
 * record's place, so writers, recovery and a rebuild from the file agree entry for entry.
 */
export function indexesRecord(offset: number, footprint: number): boolean {
  return Math.floor(offset / INDEX_SPACING) !== Math.floor((offset + footprint) / INDEX_SPACING);
}

/** The file name of the index of segment `n`: 16 lowercase hex digits and `.idx`. */
export function indexFileName(n: bigint | number): string {
  return `${BigInt(n).toString(16).padStart(16, '0')}${INDEX_SUFFIX}`;
}

/** The largest payload a segment of `segmentSize` bytes can hold. */
export function maxPayload(segmentSize: number): number {
  return segmentSize - SEGMENT_HEADER_SIZE - RECORD_HEADER_SIZE;
}

/** The file name of segment `n`: 16 lowercase hex digits and `.wal`. */
export function segmentFileName(n: bigint | number): string {
  return `${BigInt(n).toString(16).padStart(16, '0')}${SEGMENT_SUFFIX}`;
}

/** The segment number of a file name, or null when the name is not a segment's. */
export function parseSegmentFileName(name: string): bigint | null {
  const m = /^([0-9a-f]{16})\.wal$/.exec(name);
  return m ? BigInt(`0x${m[1]}`) : null;
}
